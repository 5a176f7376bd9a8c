// Editors of setting values, one per type of the catalog: a switch for bool, a number with its
// unit, a select for enums, structured editors for usage_limit and volume_mapping, JSON for
// run_config. Each returns {el, focus(), read(), showError(message)}: read() gives
// {ok: true, value} or shows what is wrong next to the field and gives {ok: false}.
import { h, uid, setFieldError } from '../dom.js';
import { humanSeconds } from '../format.js';

/** The range of a numeric setting in words, e.g. "1 to 86400 seconds". */
function rangeText(entry) {
  const c = entry.constraints || {};
  const unit = c.unit ? ` ${c.unit}` : '';
  const whole = entry.type === 'int' ? 'a whole number' : 'a number';
  if (c.min !== undefined && c.max !== undefined) {
    return c.exclusive_min ? `${whole} greater than ${c.min} and at most ${c.max}${unit}` : `${whole} from ${c.min} to ${c.max}${unit}`;
  }
  if (c.min !== undefined) return `${whole} ${c.exclusive_min ? 'greater than' : 'of at least'} ${c.min}${unit}`;
  return `${whole}${unit}`;
}

function plain(v) {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** Builds the editor for a catalog entry, starting from value (the current or default value). */
export function settingEditor(entry, value) {
  const c = entry.constraints || {};
  if (entry.type === 'bool') return boolEditor(entry, value);
  if (entry.type === 'int' || entry.type === 'number') return numberEditor(entry, value);
  if (entry.type === 'enum') return enumEditor(entry, value, c.enum || []);
  if (entry.type === 'object' && c.shape === 'usage_limit') return usageLimitEditor(entry, value);
  if (entry.type === 'object' && c.shape === 'volume_mapping') return volumeMappingEditor(entry, value);
  if (entry.type === 'object') return jsonEditor(entry, value);
  return textEditor(entry, value);
}

/** The common frame: a label, the control, a help line and the error line under it. */
function frame(entry, control, labelFor, help) {
  const errId = uid('err');
  const helpId = uid('help');
  const err = h('p', { class: 'field-error', id: errId, role: 'alert' });
  const el = h('div', { class: 'field' },
    labelFor ? h('label', { for: labelFor }, entry.name) : null,
    control,
    help ? h('p', { class: 'help', id: helpId }, help) : null,
    err);
  return { el, err, describedBy: `${help ? helpId + ' ' : ''}${errId}` };
}

function boolEditor(entry, value) {
  const id = uid('val');
  const state = h('span', { class: 'muted' });
  const input = h('input', { type: 'checkbox', role: 'switch', class: 'switch', id, checked: value === true });
  const sync = () => { state.textContent = input.checked ? 'true (on)' : 'false (off)'; };
  input.addEventListener('change', sync);
  sync();
  const f = frame(entry, h('div', { class: 'switch-row' }, input, state), id, `Default: ${plain(entry.default)}`);
  input.setAttribute('aria-describedby', f.describedBy);
  return {
    el: f.el,
    focus: () => input.focus(),
    read: () => ({ ok: true, value: input.checked }),
    showError: (m) => setFieldError(input, f.err, m),
  };
}

function numberEditor(entry, value) {
  const c = entry.constraints || {};
  const id = uid('val');
  const input = h('input', { type: 'number', id, step: entry.type === 'int' ? '1' : 'any', value: value ?? '', inputmode: 'decimal' });
  const words = h('span', { class: 'muted' });
  const sync = () => {
    const n = Number(input.value);
    if (!c.unit || input.value === '' || !Number.isFinite(n)) { words.textContent = ''; return; }
    words.textContent = `= ${humanSeconds(c.unit === 'minutes' ? n * 60 : n)}`;
    if (entry.name === 'session_time_limit' && n === 0) words.textContent = '= no time limit';
  };
  input.addEventListener('input', sync);
  sync();
  const control = h('div', { class: 'inline-fields' },
    c.unit ? h('div', { class: 'with-unit' }, input, h('span', { class: 'unit', 'aria-hidden': 'true' }, c.unit)) : input, words);
  const f = frame(entry, control, id, `${rangeText(entry)}. Default: ${plain(entry.default)}${entry.all_users_value !== undefined && entry.all_users_value !== null ? `, All Users: ${plain(entry.all_users_value)}` : ''}.`);
  input.setAttribute('aria-describedby', f.describedBy);
  if (c.unit) input.setAttribute('aria-label', `${entry.name} (${c.unit})`);
  return {
    el: f.el,
    focus: () => input.focus(),
    read() {
      const raw = input.value.trim();
      if (raw === '') {
        setFieldError(input, f.err, `Enter ${rangeText(entry)}.`);
        return { ok: false };
      }
      setFieldError(input, f.err, '');
      return { ok: true, value: Number(raw) };
    },
    showError: (m) => setFieldError(input, f.err, m),
  };
}

function enumEditor(entry, value, options) {
  const id = uid('val');
  const select = h('select', { id }, options.map((o) => h('option', { value: o, selected: o === value }, o)));
  const f = frame(entry, select, id, `One of ${options.join(', ')}. Default: ${plain(entry.default)}.`);
  select.setAttribute('aria-describedby', f.describedBy);
  return {
    el: f.el,
    focus: () => select.focus(),
    read: () => ({ ok: true, value: select.value }),
    showError: (m) => setFieldError(select, f.err, m),
  };
}

function textEditor(entry, value) {
  const c = entry.constraints || {};
  const id = uid('val');
  const input = h('input', { type: 'text', id, value: value ?? '', spellcheck: 'false', autocomplete: 'off' });
  const kind = entry.type === 'url' ? 'An http(s) URL' : entry.type === 'id' ? 'An id' : 'Text';
  const f = frame(entry, input, id, `${kind}${c.allow_empty ? ', or empty for none' : ''}.`);
  input.setAttribute('aria-describedby', f.describedBy);
  return {
    el: f.el,
    focus: () => input.focus(),
    read: () => ({ ok: true, value: input.value.trim() }),
    showError: (m) => setFieldError(input, f.err, m),
  };
}

function jsonEditor(entry, value) {
  const id = uid('val');
  const area = h('textarea', { id, spellcheck: 'false', rows: '8' });
  area.value = JSON.stringify(value ?? {}, null, 2);
  const f = frame(entry, area, id, 'A JSON object of docker run parameters, e.g. {"hostname": "kasm", "environment": {"TZ": "UTC"}}. Passed through as given; not merged across groups.');
  area.setAttribute('aria-describedby', f.describedBy);
  return {
    el: f.el,
    focus: () => area.focus(),
    read() {
      let v;
      try {
        v = JSON.parse(area.value || '{}');
      } catch (e) {
        setFieldError(area, f.err, `Not valid JSON: ${e.message}`);
        return { ok: false };
      }
      setFieldError(area, f.err, '');
      return { ok: true, value: v };
    },
    showError: (m) => setFieldError(area, f.err, m),
  };
}

function usageLimitEditor(entry, value) {
  const v = value && value.type ? value : null;
  const on = h('input', { type: 'checkbox', role: 'switch', class: 'switch', id: uid('val'), checked: !!v });
  const type = h('select', { id: uid('ul') },
    h('option', { value: 'per_user', selected: v?.type !== 'per_group' }, 'Per user — each user has their own budget'),
    h('option', { value: 'per_group', selected: v?.type === 'per_group' }, 'Per group — the users share one budget'));
  const interval = h('select', { id: uid('ul') }, ['daily', 'weekly', 'monthly', 'total'].map((i) =>
    h('option', { value: i, selected: (v?.interval || 'daily') === i }, i)));
  const hoursIn = h('input', { type: 'number', id: uid('ul'), step: 'any', value: v?.hours ?? '' });
  const err = h('p', { class: 'field-error', id: uid('err'), role: 'alert' });
  const detail = h('div', { class: 'inline-fields' },
    h('div', { class: 'field' }, h('label', { for: type.id }, 'Limit type'), type),
    h('div', { class: 'field' }, h('label', { for: interval.id }, 'Interval'), interval),
    h('div', { class: 'field' }, h('label', { for: hoursIn.id }, 'Hours'), h('div', { class: 'with-unit' }, hoursIn, h('span', { class: 'unit' }, 'hours'))));
  const sync = () => { detail.hidden = !on.checked; };
  on.addEventListener('change', sync);
  sync();
  for (const el of [on, type, interval, hoursIn]) el.setAttribute('aria-describedby', err.id);
  const el = h('fieldset', { class: 'field bare', 'aria-label': entry.name },
    h('div', { class: 'switch-row field' }, on, h('label', { for: on.id, class: 'check' }, 'Limit usage')),
    detail,
    h('p', { class: 'help' }, 'Windows are UTC: daily from 00:00, weekly from Sunday, monthly from the 1st, total forever. Off = no limit ({}).'),
    err);
  return {
    el,
    focus: () => on.focus(),
    read() {
      setFieldError(hoursIn, err, '');
      if (!on.checked) return { ok: true, value: {} };
      const raw = hoursIn.value.trim();
      if (raw === '') {
        setFieldError(hoursIn, err, 'Enter the number of hours per window (more than 0).');
        return { ok: false };
      }
      return { ok: true, value: { type: type.value, interval: interval.value, hours: Number(raw) } };
    },
    showError: (m) => setFieldError(on.checked ? hoursIn : on, err, m),
  };
}

function volumeMappingEditor(entry, value) {
  const body = h('tbody', {});
  const err = h('p', { class: 'field-error', id: uid('err'), role: 'alert' });
  let n = 0;
  const addRow = (host = '', m = {}) => {
    const i = ++n;
    const cell = (el, cls) => h('td', { class: cls || '' }, el);
    const inp = (label, attrs) => h('input', { 'aria-label': `${label} (mapping ${i})`, ...attrs });
    const tr = h('tr', { dataset: { row: String(i) } },
      cell(inp('Host path', { type: 'text', name: 'host', value: host, placeholder: '/mnt/share/{username}', spellcheck: 'false' })),
      cell(inp('Bind', { type: 'text', name: 'bind', value: m.bind ?? '', placeholder: '/home/kasm-user/share', spellcheck: 'false' })),
      cell(h('select', { 'aria-label': `Mode (mapping ${i})`, name: 'mode' },
        h('option', { value: 'rw', selected: m.mode !== 'ro' }, 'rw'), h('option', { value: 'ro', selected: m.mode === 'ro' }, 'ro')), 'narrow'),
      cell(inp('UID', { type: 'number', name: 'uid', value: m.uid ?? 1000, step: '1' }), 'narrow'),
      cell(inp('GID', { type: 'number', name: 'gid', value: m.gid ?? 1000, step: '1' }), 'narrow'),
      cell(inp('Required', { type: 'checkbox', name: 'required', checked: m.required !== false }), 'center'),
      cell(inp('Skip check', { type: 'checkbox', name: 'skip_check', checked: m.skip_check === true }), 'center'),
      cell(inp('Timeout', { type: 'number', name: 'timeout', value: m.timeout ?? 10, step: 'any' }), 'narrow'),
      cell(h('button', { type: 'button', class: 'small ghost', 'aria-label': `Remove mapping ${i}`, onclick: () => tr.remove() }, '✕')));
    body.append(tr);
    return tr;
  };
  for (const [host, m] of Object.entries(value || {})) addRow(host, m);
  const heads = ['Host path', 'Bind (in session)', 'Mode', 'UID', 'GID', 'Required', 'Skip check', 'Timeout (s)', ''];
  const el = h('fieldset', { class: 'field bare', 'aria-label': entry.name, 'aria-describedby': err.id },
    h('table', { class: 'vm-table' }, h('thead', {}, h('tr', {}, heads.map((t) => h('th', { scope: 'col' }, t)))), body),
    h('button', { type: 'button', class: 'small', onclick: () => addRow().querySelector('input').focus() }, '+ Add mapping'),
    h('p', { class: 'help' }, 'Absolute paths; {username} and {user_id} are replaced per user. Mappings of all of a user\'s groups are merged; on the same host path the higher-precedence group wins. No rows = {}.'),
    err);
  return {
    el,
    focus: () => (body.querySelector('input') || el.querySelector('button')).focus(),
    read() {
      err.textContent = '';
      const out = {};
      for (const tr of body.querySelectorAll('tr')) {
        const q = (name) => tr.querySelector(`[name=${name}]`);
        for (const x of tr.querySelectorAll('[aria-invalid]')) x.removeAttribute('aria-invalid');
        const host = q('host').value.trim();
        if (!host) {
          setFieldError(q('host'), err, `Mapping ${tr.dataset.row}: enter the host path.`);
          return { ok: false };
        }
        if (out[host]) {
          setFieldError(q('host'), err, `Host path ${host} appears twice.`);
          return { ok: false };
        }
        const m = { bind: q('bind').value.trim(), mode: q('mode').value };
        for (const k of ['uid', 'gid', 'timeout']) {
          if (q(k).value.trim() !== '') m[k] = Number(q(k).value);
        }
        m.required = q('required').checked;
        m.skip_check = q('skip_check').checked;
        out[host] = m;
      }
      return { ok: true, value: out };
    },
    showError(m) {
      err.textContent = m;
      const first = body.querySelector('input');
      if (first) first.setAttribute('aria-invalid', 'true');
    },
  };
}
