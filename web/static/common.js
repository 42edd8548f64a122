// Shared helpers of the tenstep pages: job submission, SSE following, form reading.
// Text from users (prompts, infotexts) is only ever assigned with textContent, never as HTML.
'use strict';

const tenstep = (() => {
  const $ = (sel, root = document) => root.querySelector(sel);

  /** Reads the shared prompt fields into an API request body. */
  function readPrompt() {
    const v = id => { const el = document.getElementById(id); return el ? el.value : undefined; };
    const num = id => { const s = v(id); return s === undefined || s === '' ? undefined : s; };
    return {
      prompt: v('prompt') || '',
      negative_prompt: v('negative_prompt') || '',
      seed: num('seed'),
      cfg_scale: num('cfg_scale'),
      width: num('width'),
      height: num('height'),
      steps: num('steps'),
      prompt_syntax: v('prompt_syntax'),
      clip_skip: num('clip_skip'),
      rng: v('rng'),
      preview: v('preview') || 'approx',
    };
  }

  /** A random non-negative 32-bit seed. */
  function randomSeed() {
    const a = new Uint32Array(1);
    crypto.getRandomValues(a);
    return a[0];
  }

  /** POSTs a job; resolves to the job JSON or rejects with an Error carrying the server's message and HTTP status. */
  async function submit(body) {
    const res = await fetch('/api/txt2img', {
      method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body),
    });
    const data = await res.json().catch(() => ({error: 'HTTP ' + res.status}));
    if (!res.ok) {
      const details = (data.errors || []).map(e => e.field + ': ' + e.message).join('\n');
      const err = new Error(details || data.error || ('HTTP ' + res.status));
      err.status = res.status;  // 429: the queue is full
      throw err;
    }
    return data;
  }

  const EVENTS = ['queued', 'started', 'progress', 'result', 'failed', 'cancelled'];
  const TERMINAL = new Set(['result', 'failed', 'cancelled']);

  /**
   * Follows several jobs over ONE server-sent event stream (GET /api/events?jobs=a,b,...): browsers
   * allow only 6 HTTP/1.1 connections per host, so a page with one stream per job would stall.
   * handlersOf(job, index) gives each job's handlers: queued(d), started(d), progress(d),
   * result(job), failed(d), cancelled(d), lost(). Every event's data names its job in `job`.
   * Returns the EventSource (closed once every job has ended).
   */
  function followAll(jobs, handlersOf) {
    const pending = new Map(jobs.map((job, i) => [job.id, handlersOf(job, i)]));
    const es = new EventSource('/api/events?jobs=' + jobs.map(j => encodeURIComponent(j.id)).join(','));
    for (const name of EVENTS) {
      es.addEventListener(name, ev => {
        const data = JSON.parse(ev.data);
        const handlers = pending.get(data.job);
        if (!handlers) return;  // a job that already ended (replayed after a reconnect)
        if (handlers[name]) handlers[name](data);
        if (TERMINAL.has(name)) {
          pending.delete(data.job);
          if (pending.size === 0) es.close();
        }
      });
    }
    es.onerror = () => {
      // the server closes the stream after the last terminal event; anything else is a lost connection
      if (es.readyState === EventSource.CLOSED) {
        for (const handlers of pending.values()) if (handlers.lost) handlers.lost();
        pending.clear();
      }
    };
    return es;
  }

  /** Follows one job (see followAll). */
  function follow(job, handlers) {
    return followAll([job], () => handlers);
  }

  function cancel(id) {
    return fetch('/api/jobs/' + encodeURIComponent(id), {method: 'DELETE'});
  }

  /**
   * Sets the schedule and gamma to the sampler's defaults when the sampler changes; the gamma field is
   * disabled (and not sent) for a sampler without gamma (only GE has one: its option carries data-gamma).
   */
  function linkSampler(samplerEl, scheduleEl, gammaEl) {
    const gammaState = () => {
      const opt = samplerEl.selectedOptions[0];
      if (gammaEl) gammaEl.disabled = !(opt && opt.dataset.gamma);
    };
    samplerEl.addEventListener('change', () => {
      const opt = samplerEl.selectedOptions[0];
      if (opt && opt.dataset.schedule) scheduleEl.value = opt.dataset.schedule;
      if (gammaEl && opt && opt.dataset.gamma) gammaEl.value = opt.dataset.gamma;
      gammaState();
    });
    gammaState();
  }

  /** The alt text of a generated image: its prompt, then sampler, schedule and steps. */
  function altText(prompt, sampler, schedule, steps) {
    return (prompt ? '"' + prompt + '"' : 'Empty prompt') + ': ' + sampler + ', ' + schedule + ' schedule, ' + steps + ' steps';
  }

  document.addEventListener('DOMContentLoaded', () => {
    const dice = document.getElementById('dice');
    if (dice) dice.addEventListener('click', () => { document.getElementById('seed').value = randomSeed(); });
    // a LoRA button appends A1111's tag (multiplier 1) to the prompt; the token count follows the input event
    document.querySelectorAll('button.lora[data-lora]').forEach(b => b.addEventListener('click', () => {
      const prompt = document.getElementById('prompt');
      if (!prompt) return;
      const tag = '<lora:' + b.dataset.lora + ':1>';
      prompt.value = prompt.value + (prompt.value === '' || prompt.value.endsWith(' ') ? '' : ' ') + tag;
      prompt.dispatchEvent(new Event('input'));
    }));
  });

  return {$, readPrompt, randomSeed, submit, follow, followAll, cancel, linkSampler, altText};
})();

// Live token counts under the prompt boxes, as A1111 shows them: "used/limit", the limit growing by 75 per chunk.
document.addEventListener('DOMContentLoaded', () => {
  document.querySelectorAll('.token-count[data-for]').forEach(out => {
    const box = document.getElementById(out.dataset.for);
    if (!box) return;
    let timer = null;
    // counted with the syntax chosen in the form (emphasis brackets are not tokens in A1111 syntax)
    const syntax = document.getElementById('prompt_syntax');
    const update = () => {
      fetch('/api/tokenize?text=' + encodeURIComponent(box.value) + (syntax ? '&syntax=' + encodeURIComponent(syntax.value) : ''))
        .then(r => r.ok ? r.json() : null)
        .then(j => { out.textContent = j ? j.label : ''; })
        .catch(() => { out.textContent = ''; });
    };
    box.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(update, 250); });
    if (syntax) syntax.addEventListener('change', update);
    update();
  });
});

// The model picker in the header: POST /api/model switches the server's resident model and answers once the
// new model is loaded (after the jobs queued before it have finished); the page then reloads, since sizes and
// defaults belong to the model. A failed load leaves the old model resident and says why.
document.addEventListener('DOMContentLoaded', () => {
  const picker = document.getElementById('model-picker');
  const status = document.getElementById('model-status');
  if (!picker || !status) return;
  picker.addEventListener('change', async () => {
    const wanted = picker.value;
    const current = picker.dataset.current;
    if (wanted === current) return;
    picker.disabled = true;
    picker.setAttribute('aria-busy', 'true');
    status.textContent = 'loading ' + wanted + '…';
    try {
      const res = await fetch('/api/model', {
        method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({model: wanted}),
      });
      const data = await res.json().catch(() => ({error: 'HTTP ' + res.status}));
      if (!res.ok) {
        const details = (data.errors || []).map(e => e.field + ': ' + e.message).join('\n');
        throw new Error(details || data.error || ('HTTP ' + res.status));
      }
      status.textContent = 'loaded ' + data.model + '; reloading the page…';
      location.reload();
    } catch (e) {
      status.textContent = 'could not switch: ' + e.message;
      picker.value = current;
      picker.disabled = false;
      picker.removeAttribute('aria-busy');
    }
  });
});
