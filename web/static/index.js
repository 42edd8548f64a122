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

  // img2img: the chosen file as a data URL (sent as init_image), shown beside the result
  let initImage = null;
  const imageFields = $('#init_image') !== null;
  const showValue = (input, out) => {
    const update = () => { out.textContent = Number(input.value).toFixed(2); };
    input.addEventListener('input', update);
    update();
  };
  if (imageFields) {
  showValue($('#denoising_strength'), $('#denoising_strength_value'));
  showValue($('#hr_strength'), $('#hr_strength_value'));
  $('#init_image').addEventListener('change', ev => {
    const file = ev.target.files[0];
    if (!file) return;
    const reader = new FileReader();
    reader.onload = () => {
      initImage = reader.result;
      const img = $('#init-preview');
      img.onload = () => {
        // the image's own size, rounded down to the model's multiple (the width field's step)
        const step = Number($('#width').step) || 8;
        $('#width').value = Math.max(step, Math.floor(img.naturalWidth / step) * step);
        $('#height').value = Math.max(step, Math.floor(img.naturalHeight / step) * step);
        $('#init-caption').textContent = 'init image ' + file.name + ' (' + img.naturalWidth + 'x'
            + img.naturalHeight + ', resized to ' + $('#width').value + 'x' + $('#height').value + ')';
      };
      img.src = initImage;
      $('#init-box').hidden = false;
      $('#clear-init').disabled = false;
    };
    reader.readAsDataURL(file);
  });
  $('#clear-init').addEventListener('click', () => {
    initImage = null;
    $('#init_image').value = '';
    $('#init-box').hidden = true;
    $('#clear-init').disabled = true;
  });
  }

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
    if (initImage) {
      body.init_image = initImage;
      body.denoising_strength = $('#denoising_strength').value;
      body.img2img_steps = $('#img2img_steps').value;
    }
    if ($('#original_width')) {
      // SDXL's size conditioning, sent in diffusers' order ([height, width], [top, left]); a pair left empty is not
      // sent (the server's default), one empty half is the image's own width or height, or crop 0
      const v = id => $('#' + id).value;
      const size = (w, h) => v(w) === '' && v(h) === '' ? undefined
          : [Number(v(h) || $('#height').value), Number(v(w) || $('#width').value)];
      body.original_size = size('original_width', 'original_height');
      body.target_size = size('target_width', 'target_height');
      body.crops_coords_top_left = v('crop_top') === '' && v('crop_left') === '' ? undefined
          : [Number(v('crop_top') || 0), Number(v('crop_left') || 0)];
    }
    if (imageFields && $('#enable_hr').checked) {
      body.enable_hr = true;
      body.hr_scale = $('#hr_scale').value;
      body.hr_upscaler = $('#hr_upscaler').value;
      body.hr_second_pass_steps = $('#hr_second_pass_steps').value;
      body.denoising_strength = $('#hr_strength').value;
    }
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
