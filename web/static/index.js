// The generate page: submit, follow progress and previews over the page's event stream, show the result.
'use strict';

document.addEventListener('DOMContentLoaded', () => {
  const {$} = tenstep;
  const form = $('#generate-form');
  const status = $('#job-status');
  const progress = $('#progress');
  const error = $('#error');
  const cancelBtn = $('#cancel');
  const generateBtn = $('#generate');
  let current = null;

  tenstep.linkSampler($('#sampler'), $('#schedule'), $('#gamma'));

  function done() {
    generateBtn.disabled = false;
    cancelBtn.disabled = true;
    current = null;
  }

  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    error.textContent = '';
    const body = tenstep.readPrompt();
    body.sampler = $('#sampler').value;
    body.schedule = $('#schedule').value;
    if (!$('#gamma').disabled) body.gamma = $('#gamma').value;
    generateBtn.disabled = true;
    $('#result').hidden = true;
    progress.value = 0;
    let job;
    try {
      job = await tenstep.submit(body);
    } catch (e) {
      error.textContent = e.message;
      generateBtn.disabled = false;
      return;
    }
    current = job;
    cancelBtn.disabled = false;
    status.textContent = 'Queued (position ' + job.position + ').';
    tenstep.follow(job, {
      queued: d => { status.textContent = 'Queued (position ' + d.position + ').'; },
      started: d => { status.textContent = 'Started: ' + d.total + ' steps, ' + d.width + 'x' + d.height + '.'; },
      progress: d => {
        progress.max = d.total;
        progress.value = d.step;
        status.textContent = 'Step ' + d.step + ' / ' + d.total + ', sigma ' + d.sigma.toFixed(3)
            + ', ' + (d.elapsed_ms / 1000).toFixed(1) + ' s';
        if (d.preview) {
          $('#preview-box').hidden = false;
          const preview = $('#preview-image');
          const caption = (d.preview_kind === 'vae' ? 'VAE-decoded' : 'approximate (latent to RGB)')
              + ' preview of x0-hat at step ' + d.step + ' of ' + d.total;
          preview.src = d.preview;
          // only the approximate preview is tiny (latent resolution) and shown upscaled
          preview.classList.toggle('preview-upscaled', d.preview_kind === 'approx');
          preview.alt = caption.charAt(0).toUpperCase() + caption.slice(1);
          $('#preview-caption').textContent = caption;
        }
      },
      result: j => {
        const r = j.result;
        progress.value = progress.max;
        status.textContent = 'Done: seed ' + r.seed + '.';
        $('#preview-box').hidden = true;
        $('#result-image').src = r.image;
        $('#result-image').alt = tenstep.altText(r.prompt, r.sampler_name, r.schedule, r.steps);
        $('#parameters').textContent = r.infotext;
        $('#download').href = r.image;
        $('#reuse').href = r.reuse;
        $('#permalink').href = r.page;
        $('#result').hidden = false;
        done();
      },
      failed: d => { error.textContent = d.error; status.textContent = 'Failed.'; done(); },
      cancelled: () => { status.textContent = 'Cancelled.'; done(); },
      lost: () => { status.textContent = 'Lost the connection to the server.'; done(); },
    });
  });

  cancelBtn.addEventListener('click', () => { if (current) tenstep.cancel(current.id); });
});
