// The compare page: one prompt and seed, one job per panel, panels fill in live.
'use strict';

document.addEventListener('DOMContentLoaded', () => {
  const {$} = tenstep;
  const panels = $('#panels');
  const template = $('#panel-template');
  const error = $('#error');

  function addPanel(sampler, schedule) {
    const node = template.content.firstElementChild.cloneNode(true);
    const s = $('.p-sampler', node);
    const sch = $('.p-schedule', node);
    s.value = sampler;
    sch.value = schedule;
    tenstep.linkSampler(s, sch, null);
    $('.p-remove', node).addEventListener('click', () => { if (panels.children.length > 2) node.remove(); });
    panels.appendChild(node);
  }

  for (const pair of panels.dataset.defaults.split(',')) {
    const [sampler, schedule] = pair.split(':');
    addPanel(sampler, schedule);
  }
  $('#add-panel').addEventListener('click', () => addPanel('ddpm', 'trailing'));

  $('#compare-form').addEventListener('submit', async ev => {
    ev.preventDefault();
    error.textContent = '';
    const seedEl = $('#seed');
    if (seedEl.value === '' || Number(seedEl.value) < 0) seedEl.value = tenstep.randomSeed();  // one seed for all panels
    const base = tenstep.readPrompt();
    for (const panel of panels.querySelectorAll('.cmp-panel')) {
      const body = Object.assign({}, base, {sampler: $('.p-sampler', panel).value, schedule: $('.p-schedule', panel).value});
      const status = $('.p-status', panel);
      const bar = $('.p-progress', panel);
      const img = $('.p-image', panel);
      panel.dataset.state = 'submitting';
      bar.value = 0;
      $('.p-info', panel).textContent = '';
      img.removeAttribute('src');
      let job;
      try {
        job = await tenstep.submit(body);
      } catch (e) {
        panel.dataset.state = 'failed';
        status.textContent = e.message;
        error.textContent = e.message;
        continue;
      }
      panel.dataset.state = 'queued';
      status.textContent = 'Queued (position ' + job.position + ').';
      tenstep.follow(job, {
        queued: d => { status.textContent = 'Queued (position ' + d.position + ').'; },
        started: () => { panel.dataset.state = 'running'; status.textContent = 'Running.'; },
        progress: d => {
          bar.max = d.total;
          bar.value = d.step;
          status.textContent = 'Step ' + d.step + ' / ' + d.total + ', sigma ' + d.sigma.toFixed(3)
              + (d.preview_kind ? ' (' + (d.preview_kind === 'vae' ? 'VAE' : 'approximate') + ' preview)' : '');
          if (d.preview) img.src = d.preview;
        },
        result: j => {
          img.src = j.result.image;
          bar.value = bar.max;
          status.textContent = 'Done in ' + j.request.steps + ' steps.';
          $('.p-info', panel).textContent = j.result.infotext;
          panel.dataset.state = 'done';
        },
        failed: d => { panel.dataset.state = 'failed'; status.textContent = d.error; },
        cancelled: () => { panel.dataset.state = 'cancelled'; status.textContent = 'Cancelled.'; },
      });
    }
  });
});
