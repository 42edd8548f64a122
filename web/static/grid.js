// The grid page: rows = sampler/schedule pairs, columns = step counts, then one PNG of the table.
// Every cell's job is followed over one event stream (tenstep.followAll), so a grid of any size fills in.
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
    const caption = table.createCaption();
    caption.textContent = 'Rows: sampler / schedule; columns: number of steps.';
    const head = table.createTHead().insertRow();
    const corner = document.createElement('td');
    head.appendChild(corner);
    for (const n of steps) {
      const th = document.createElement('th');
      th.scope = 'col';
      th.textContent = 'N = ' + n;
      head.appendChild(th);
    }

    // build the whole table first, then submit cell by cell
    const body = table.createTBody();
    const cells = [];
    for (const [sampler, schedule] of rows) {
      const tr = body.insertRow();
      const th = document.createElement('th');
      th.scope = 'row';
      th.textContent = sampler + ' / ' + (schedule || 'default');
      tr.appendChild(th);
      for (const n of steps) {
        const td = tr.insertCell();
        td.dataset.state = 'waiting';
        const img = document.createElement('img');
        img.alt = 'Waiting: ' + sampler + ', ' + (schedule || 'default') + ' schedule, ' + n + ' steps';
        td.appendChild(img);
        cells.push({td, img, body: Object.assign({}, base, {sampler, schedule, steps: n})});
      }
    }

    const total = cells.length;
    let finished = 0;
    status.textContent = '0 / ' + total + ' cells done.';
    const ids = [];

    function handlersOf(cell, ended) {
      const {td, img} = cell;
      return {
        started: () => { td.dataset.state = 'running'; },
        progress: d => {
          if (!d.preview) return;
          img.src = d.preview;
          img.classList.toggle('preview-upscaled', d.preview_kind === 'approx');
          img.alt = 'Preview at step ' + d.step + ' of ' + d.total;
        },
        result: j => {
          const r = j.result;
          img.classList.remove('preview-upscaled');
          img.src = r.image;
          img.alt = tenstep.altText(r.prompt, r.sampler_name, r.schedule, r.steps);
          td.dataset.state = 'done';
          finished++;
          status.textContent = finished + ' / ' + total + ' cells done.';
          if (finished === total) {
            download.href = '/api/grid.png?cols=' + steps.length + '&jobs=' + ids.join(',');
            download.hidden = false;
          }
          ended();
        },
        failed: d => { td.dataset.state = 'failed'; error.textContent = d.error; ended(); },
        cancelled: () => { td.dataset.state = 'cancelled'; ended(); },
        lost: () => { td.dataset.state = 'failed'; error.textContent = 'Lost the connection to the server.'; ended(); },
      };
    }

    // Submit in batches: as many cells as the queue takes (until 429), follow that batch over one
    // stream, and submit the next batch once it has ended, so a grid larger than the queue fills
    // in too and the page never holds more than one stream.
    let next = 0;
    while (next < cells.length) {
      const batch = [];
      let stop = false;
      while (next < cells.length) {
        const cell = cells[next];
        try {
          cell.job = await tenstep.submit(cell.body);
        } catch (e) {
          if (e.status === 429 && batch.length > 0) break;  // the queue is full: wait for this batch
          error.textContent = e.message;
          cell.td.dataset.state = 'failed';
          stop = true;
          break;
        }
        ids.push(cell.job.id);
        batch.push(cell);
        next++;
      }
      if (batch.length === 0) return;
      if (next < cells.length && !stop) status.textContent += ' The queue is full: the next cells wait for these.';
      await new Promise(resolve => {
        let open = batch.length;
        const ended = () => { if (--open === 0) resolve(); };
        const byId = new Map(batch.map(c => [c.job.id, c]));
        tenstep.followAll(batch.map(c => c.job), job => handlersOf(byId.get(job.id), ended));
      });
      if (stop) return;
    }
  });
});
