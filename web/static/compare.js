// The compare page: one prompt and seed, one job per panel, panels fill in live over one event stream.
'use strict';

document.addEventListener('DOMContentLoaded', () => {
  const {$} = tenstep;
  const panels = $('#panels');
  const template = $('#panel-template');
  const error = $('#error');
  // the samplers the server offers, in its order, each with its default schedule (from the template)
  const samplerOptions = Array.from(template.content.querySelectorAll('.p-sampler option'));

  function label(panel) {
    return $('.p-sampler', panel).selectedOptions[0].textContent + ' / ' + $('.p-schedule', panel).value;
  }

  function relabel(panel) {
    $('.p-progress', panel).setAttribute('aria-label', 'Progress of ' + label(panel));
  }

  function addPanel(sampler, schedule) {
    const node = template.content.firstElementChild.cloneNode(true);
    const s = $('.p-sampler', node);
    const sch = $('.p-schedule', node);
    s.value = sampler;
    sch.value = schedule;
    tenstep.linkSampler(s, sch, null);
    s.addEventListener('change', () => relabel(node));
    sch.addEventListener('change', () => relabel(node));
    relabel(node);
    $('.p-remove', node).addEventListener('click', () => { if (panels.children.length > 2) node.remove(); });
    panels.appendChild(node);
  }

  for (const pair of panels.dataset.defaults.split(',')) {
    const [sampler, schedule] = pair.split(':');
    addPanel(sampler, schedule);
  }
  // an added panel takes the first sampler of the server's list that no panel shows yet (then
  // cycles through the list), with that sampler's default schedule
  $('#add-panel').addEventListener('click', () => {
    const used = new Set(Array.from(panels.querySelectorAll('.p-sampler'), s => s.value));
    const opt = samplerOptions.find(o => !used.has(o.value)) || samplerOptions[panels.children.length % samplerOptions.length];
    addPanel(opt.value, opt.dataset.schedule);
  });

  $('#compare-form').addEventListener('submit', async ev => {
    ev.preventDefault();
    error.textContent = '';
    const seedEl = $('#seed');
    if (seedEl.value === '' || Number(seedEl.value) < 0) seedEl.value = tenstep.randomSeed();  // one seed for all panels
    const base = tenstep.readPrompt();
    const jobs = [];
    const panelOf = new Map();
    for (const panel of panels.querySelectorAll('.cmp-panel')) {
      const body = Object.assign({}, base, {sampler: $('.p-sampler', panel).value, schedule: $('.p-schedule', panel).value});
      const status = $('.p-status', panel);
      const img = $('.p-image', panel);
      panel.dataset.state = 'submitting';
      $('.p-progress', panel).value = 0;
      $('.p-info', panel).textContent = '';
      img.removeAttribute('src');
      img.alt = '';
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
      jobs.push(job);
      panelOf.set(job.id, panel);
    }
    if (jobs.length === 0) return;
    tenstep.followAll(jobs, job => {
      const panel = panelOf.get(job.id);
      const status = $('.p-status', panel);
      const bar = $('.p-progress', panel);
      const img = $('.p-image', panel);
      return {
        queued: d => { status.textContent = 'Queued (position ' + d.position + ').'; },
        started: () => { panel.dataset.state = 'running'; status.textContent = 'Running.'; },
        progress: d => {
          bar.max = d.total;
          bar.value = d.step;
          status.textContent = 'Step ' + d.step + ' / ' + d.total + ', sigma ' + d.sigma.toFixed(3)
              + (d.preview_kind ? ' (' + (d.preview_kind === 'vae' ? 'VAE' : 'approximate') + ' preview)' : '');
          if (d.preview) {
            img.src = d.preview;
            img.classList.toggle('preview-upscaled', d.preview_kind === 'approx');
            img.alt = 'Preview of ' + label(panel) + ' at step ' + d.step + ' of ' + d.total;
          }
        },
        result: j => {
          const r = j.result;
          img.classList.remove('preview-upscaled');
          img.src = r.image;
          img.alt = tenstep.altText(r.prompt, r.sampler_name, r.schedule, r.steps);
          bar.value = bar.max;
          status.textContent = 'Done in ' + j.request.steps + ' steps.';
          $('.p-info', panel).textContent = r.infotext;
          panel.dataset.state = 'done';
        },
        failed: d => { panel.dataset.state = 'failed'; status.textContent = d.error; },
        cancelled: () => { panel.dataset.state = 'cancelled'; status.textContent = 'Cancelled.'; },
        lost: () => { panel.dataset.state = 'failed'; status.textContent = 'Lost the connection to the server.'; },
      };
    });
  });
});
