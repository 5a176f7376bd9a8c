// Small DOM helpers. Text always goes in as text nodes: nothing from the API is parsed as HTML.

/** Creates an element: h('a', {href: '#/x', class: 'c', onclick: fn}, 'text', child, [more]). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'class') {
      el.className = v;
    } else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected' || k === 'hidden') {
      el[k] = v;
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

/** Appends children to el, skipping null, undefined and false, flattening arrays. */
export function add(el, ...children) {
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** Replaces the children of el. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let idSeq = 0;
/** A fresh element id. */
export const uid = (p = 'id') => `${p}-${++idSeq}`;

/** A card with a heading, optional hint and header actions, and a body. */
export function card(title, { hint, actions, flush, label } = {}, ...body) {
  const hid = uid('card');
  return h('section', { class: 'card', 'aria-labelledby': label ? null : hid, 'aria-label': label },
    h('div', { class: 'card-head' },
      h('h2', { id: hid }, title, hint ? h('span', { class: 'hint' }, hint) : null),
      actions ? h('div', { class: 'btn-row' }, actions) : null),
    h('div', { class: flush ? 'card-body flush' : 'card-body' }, body));
}

/** A table: columns [{label, class}], rows of cells (each a node, text or [nodes]). */
export function table(columns, rows, { empty = 'Nothing here yet.', label, rowAttrs } = {}) {
  if (!rows.length) return h('div', { class: 'empty' }, empty);
  return h('table', { class: 'data', 'aria-label': label },
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { class: c.class, scope: 'col' }, c.label)))),
    h('tbody', {}, rows.map((cells, i) => h('tr', rowAttrs ? rowAttrs(i) : {},
      cells.map((cell, j) => h('td', { class: columns[j].class }, cell))))));
}

/** An alert box: kind error|warn|info|ok. */
export function alertBox(kind, ...content) {
  return h('div', { class: `alert ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, content);
}

/** A badge. */
export const badge = (text, kind = '') => h('span', { class: `badge ${kind}` }, text);

/** A labelled form field around an input; returns {wrap, input, error}. */
export function field(labelText, input, { help, error } = {}) {
  const id = input.id || uid('f');
  input.id = id;
  const errEl = error || h('p', { class: 'field-error', id: `${id}-err` });
  errEl.id = errEl.id || `${id}-err`;
  const helpEl = help ? h('p', { class: 'help', id: `${id}-help` }, help) : null;
  input.setAttribute('aria-describedby', [helpEl?.id, errEl.id].filter(Boolean).join(' '));
  const wrap = h('div', { class: 'field' }, h('label', { for: id }, labelText), input, helpEl, errEl);
  return { wrap, input, error: errEl };
}

/** Shows an error message next to a field (or clears it with ''). */
export function setFieldError(input, errEl, message) {
  errEl.textContent = message || '';
  if (message) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
}

/** A modal dialog built on <dialog>; resolves with the button's value or '' on cancel. */
export function modal(title, body, buttons) {
  return new Promise((resolve) => {
    const hid = uid('dlg');
    const dlg = h('dialog', { 'aria-labelledby': hid });
    const close = (v) => { dlg.close(); dlg.remove(); resolve(v); };
    dlg.append(
      h('div', { class: 'dlg-head' }, h('h2', { id: hid }, title)),
      h('div', { class: 'dlg-body' }, body),
      h('div', { class: 'dlg-foot' }, buttons.map((b) => h('button', {
        type: 'button', class: b.class || '', onclick: async () => {
          if (b.run) {
            const ok = await b.run();
            if (ok === false) return;
          }
          close(b.value);
        },
      }, b.label))));
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); close(''); });
    document.body.appendChild(dlg);
    dlg.showModal();
  });
}

/** Asks for confirmation; resolves true when confirmed. */
export async function confirmDialog(title, message, confirmLabel, danger = true) {
  const v = await modal(title, h('p', {}, message), [
    { label: 'Cancel', value: '' },
    { label: confirmLabel, value: 'yes', class: danger ? 'danger solid' : 'primary' },
  ]);
  return v === 'yes';
}

/** A short-lived message in the corner. */
export function toast(message) {
  let box = document.getElementById('toasts');
  if (!box) {
    box = h('div', { id: 'toasts', class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.appendChild(box);
  }
  const t = h('div', { class: 'toast' }, message);
  box.appendChild(t);
  setTimeout(() => t.remove(), 3500);
}
