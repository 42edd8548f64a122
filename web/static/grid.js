// The grid page: rows = sampler/schedule pairs, columns = step counts, then one PNG of the table.
'use strict';

document.addEventListener('DOMContentLoaded', () => {
  const {$} = tenstep;
  const table = $('#grid-table');
  const error = $('#error');
  const status = $('#grid-status');
  const download = $('#grid-download');

  $('#grid-form').addEventListener('submit', async ev => {
    ev.preventDefault();
    error.textContent = '';
    download.hidden = true;
    const steps = $('#grid-steps').value.split(/[\s,]+/).filter(s => s !== '');
    const rows = $('#grid-rows').value.split('\n').map(l => l.trim()).filter(l => l !== '').map(l => l.split(/\s+/));
    if (steps.length === 0 || rows.length === 0) { error.textContent = 'Give at least one row and one step count.'; return; }
    const seedEl = $('#seed');
    if (seedEl.value === '' || Number(seedEl.value) < 0) seedEl.value = tenstep.randomSeed();
    const base = tenstep.readPrompt();

    table.replaceChildren();
    const head = table.insertRow();
    head.appendChild(document.createElement('th'));
    for (const n of steps) { const th = document.createElement('th'); th.textContent = 'N = ' + n; head.appendChild(th); }

    const ids = [];
    let finished = 0;
    const total = rows.length * steps.length;
    status.textContent = '0 / ' + total + ' cells done.';
    for (const [sampler, schedule] of rows) {
      const tr = table.insertRow();
      const th = document.createElement('th');
      th.textContent = sampler + ' / ' + (schedule || 'default');
      tr.appendChild(th);
      for (const n of steps) {
        const td = tr.insertCell();
        const img = document.createElement('img');
        img.className = 'pixelated';
        img.alt = sampler + ' ' + (schedule || '') + ' N=' + n;
        td.appendChild(img);
        const body = Object.assign({}, base, {sampler, schedule, steps: n});
        let job;
        try {
          job = await tenstep.submit(body);
        } catch (e) {
          error.textContent = e.message;
          td.dataset.state = 'failed';
          return;
        }
        ids.push(job.id);
        tenstep.follow(job, {
          progress: d => { if (d.preview) img.src = d.preview; },
          result: j => {
            img.src = j.result.image;
            td.dataset.state = 'done';
            finished++;
            status.textContent = finished + ' / ' + total + ' cells done.';
            if (finished === total) {
              download.href = '/api/grid.png?cols=' + steps.length + '&jobs=' + ids.join(',');
              download.hidden = false;
            }
          },
          failed: d => { td.dataset.state = 'failed'; error.textContent = d.error; },
          cancelled: () => { td.dataset.state = 'cancelled'; },
        });
      }
    }
  });
});
