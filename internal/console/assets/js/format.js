// Formatting of times, durations and setting values for display.
import { h } from './dom.js';

const pad = (n) => String(n).padStart(2, '0');

/** An RFC 3339 time as "2026-05-01 14:03:09 UTC"; '—' for none. */
export function utc(t) {
  if (!t) return '—';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
}

/** A <time> element showing the UTC time, with the relative time as its title. */
export function timeEl(t) {
  if (!t) return h('span', { class: 'muted' }, '—');
  return h('time', { datetime: t, title: relative(t), class: 'nowrap' }, utc(t));
}

/**
 * A compact <time> for table cells: "12-05 07:17" (this year) or "2025-12-05 07:17" on one line;
 * the full UTC time and the relative time in its title.
 */
export function shortTimeEl(t) {
  if (!t) return h('span', { class: 'muted' }, '—');
  const full = utc(t);
  // The year only when it is not this one: "12-05 07:17" for this year's dates.
  const short = full.replace(/:\d\d UTC$/, '');
  const thisYear = String(new Date().getUTCFullYear());
  return h('time', { datetime: t, title: `${full} (${relative(t)})`, class: 'nowrap' }, short.startsWith(`${thisYear}-`) ? short.slice(5) : short);
}

/** Text that may break only after "/" and ":" (an image id such as kasmweb/libre-office:1.16). */
export function breakableId(text) {
  const el = h('span', {});
  String(text).split(/(?<=[/:])/).forEach((p, i) => { if (i) el.append(h('wbr', {})); el.append(p); });
  return el;
}

/**
 * A setting name that may break only after its underscores and dots, never mid-word
 * ("keepalive_<wbr>expiration").
 */
export function settingNameEl(name, cls = 'setting-name') {
  const parts = String(name).split(/(?<=[_.])/);
  const el = h('span', { class: cls });
  parts.forEach((p, i) => { if (i) el.append(h('wbr', {})); el.append(p); });
  return el;
}

/** "in 4 min" / "3 h ago". */
export function relative(t) {
  const ms = new Date(t).getTime() - Date.now();
  const s = Math.round(Math.abs(ms) / 1000);
  const txt = s < 60 ? `${s} s` : s < 3600 ? `${Math.round(s / 60)} min` : s < 172800 ? `${Math.round(s / 360) / 10} h` : `${Math.round(s / 86400)} days`;
  return ms >= 0 ? `in ${txt}` : `${txt} ago`;
}

/** A number of seconds in words: 3660 → "1 h 1 min". */
export function humanSeconds(total) {
  if (!Number.isFinite(total)) return '';
  if (total === 0) return '0 s';
  const parts = [];
  let s = Math.abs(total);
  const units = [['d', 86400], ['h', 3600], ['min', 60], ['s', 1]];
  for (const [name, size] of units) {
    if (s >= size) {
      const n = Math.floor(s / size);
      parts.push(`${n} ${name}`);
      s -= n * size;
    }
    if (parts.length === 2) break;
  }
  if (!parts.length) parts.push(`${Math.abs(total)} s`);
  return (total < 0 ? '−' : '') + parts.join(' ');
}

/** A countdown figure: "1:02:03" or "04:59". */
export function clock(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = s % 60;
  return hh ? `${hh}:${pad(mm)}:${pad(ss)}` : `${pad(mm)}:${pad(ss)}`;
}

/** Hours with up to two decimals (1.5 → "1.5 h"), minutes or seconds below an hour. */
export function hours(x) {
  if (x === null || x === undefined) return '—';
  if (x >= 1 || x === 0) return `${Math.round(x * 100) / 100} h`;
  const min = x * 60;
  return min >= 1 ? `${Math.round(min)} min` : `${Math.round(min * 60)} s`;
}

/** A one-line description of a usage_limit value. */
export function usageLimitText(v) {
  if (!v || !v.type) return 'no limit';
  const who = v.type === 'per_group' ? 'shared by the group' : 'per user';
  return `${v.hours} h ${who}, ${v.interval}`;
}

/**
 * Renders a setting's value for a table cell, with a hint in words where it helps. mounts, for
 * an effective volume_mapping, maps each host path to the group that supplied it.
 */
export function valueView(entry, value, mounts) {
  const type = entry?.type;
  const c = entry?.constraints || {};
  if (type === 'bool') {
    return h('span', { class: `value bool-${value}` }, value ? 'true' : 'false');
  }
  if ((type === 'int' || type === 'number') && c.unit) {
    const secs = c.unit === 'minutes' ? value * 60 : value;
    let hint = humanSeconds(secs);
    if (entry.name === 'session_time_limit' && value === 0) hint = 'no limit';
    return h('div', {}, h('div', { class: 'value' }, `${value} ${c.unit}`), h('div', { class: 'value-hint' }, hint));
  }
  if (type === 'object' && c.shape === 'usage_limit') {
    return h('div', {}, h('div', {}, usageLimitText(value)), h('div', { class: 'value-hint mono' }, JSON.stringify(value)));
  }
  if (type === 'object' && c.shape === 'volume_mapping') {
    const paths = Object.keys(value || {});
    if (!paths.length) return h('span', { class: 'value muted' }, '{} (no mappings)');
    return h('div', { class: 'value' }, h('ul', {}, paths.map((p) => {
      const m = value[p] || {};
      const from = mounts?.[p];
      return h('li', { 'data-host-path': p }, `${p} → ${m.bind} (${m.mode}, ${m.uid}:${m.gid}${m.required === false ? ', optional' : ''})`,
        from ? h('span', { class: 'mount-from' }, ' · from ', h('a', { href: `#/groups/${encodeURIComponent(from.group_id)}` }, from.name)) : null);
    })));
  }
  if (type === 'object') {
    const s = JSON.stringify(value);
    return h('code', { class: 'value' }, s.length > 160 ? `${s.slice(0, 157)}…` : s);
  }
  if (typeof value === 'string') {
    return value === '' ? h('span', { class: 'value muted' }, '"" (empty)') : h('span', { class: 'value' }, value);
  }
  return h('span', { class: 'value' }, JSON.stringify(value));
}

/** A compact value as text (for history and titles). */
export function valueText(v) {
  if (v === null || v === undefined) return '—';
  return typeof v === 'string' ? (v === '' ? '""' : v) : JSON.stringify(v);
}
