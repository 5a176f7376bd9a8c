// The user dashboard (user key): my usage, my sessions with a live countdown for time-limited
// ones, the actions my settings allow, and starting a session.
import { api, get, seg, ApiError } from '../api.js';
import { h, add, card, badge, alertBox, field, setFieldError, toast } from '../dom.js';
import { timeEl, humanSeconds } from '../format.js';
import { launchableWorkspaces } from './workspaces.js';
import { pageHead, usagePanel, statusBadge, sessionButtons, countdown, listSessions, latestOnly } from './common.js';

/** The allow_* settings a user sees as what they may do. */
const ALLOWED = [
  ['allow_kasm_clipboard_up', 'Paste into sessions'], ['allow_kasm_clipboard_down', 'Copy out of sessions'],
  ['allow_kasm_uploads', 'Upload files'], ['allow_kasm_downloads', 'Download files'], ['allow_kasm_audio', 'Audio'],
  ['allow_kasm_microphone', 'Microphone'], ['allow_kasm_webcam', 'Webcam'], ['allow_kasm_printing', 'Printing'],
  ['allow_kasm_sharing', 'Session sharing'], ['allow_kasm_gamepad', 'Gamepads'],
  ['allow_kasm_pause', 'Pause my sessions'], ['allow_kasm_stop', 'Stop my sessions'], ['allow_kasm_delete', 'Delete my sessions'],
];

export async function dashboardView(ctx) {
  const me = ctx.id.user_id;
  document.title = 'My workspace · wspolicy console';
  const eff = await get(`/users/${seg(me)}/effective-settings`);
  if (!ctx.current()) return;
  const val = (n) => eff.settings?.[n]?.value;
  const allow = { pause: val('allow_kasm_pause') === true, stop: val('allow_kasm_stop') === true, delete: val('allow_kasm_delete') === true };
  const usageSlot = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const sessionsSlot = h('div', {});
  const showEnded = h('input', { type: 'checkbox', id: 'show-ended' });

  const limit = val('session_time_limit');
  const facts = h('dl', { class: 'facts' },
    h('dt', {}, 'Sessions at once'), h('dd', {}, String(val('max_kasms_per_user') ?? '—')),
    h('dt', {}, 'Session time limit'), h('dd', {}, limit ? humanSeconds(limit) : 'none'),
    h('dt', {}, 'Idle disconnect'), h('dd', {}, val('idle_disconnect') !== undefined ? `${val('idle_disconnect')} min` : '—'),
    h('dt', {}, 'When nobody keeps a session alive'), h('dd', {}, limit
      ? 'nothing: a time-limited session runs until its time limit'
      : `${humanSeconds(val('keepalive_expiration') ?? 0)}, then ${val('keepalive_expiration_action') ?? 'delete'}`),
    h('dt', {}, 'Default image'), h('dd', {}, val('default_image') || h('span', { class: 'muted' }, 'none')));

  const loads = latestOnly(ctx);
  const start = startForm(me, val('default_image'), () => loadSessions());
  start.pick(await launchableWorkspaces(me));
  if (!ctx.current()) return;
  const loadSessions = async () => {
    const latest = loads.begin();
    let sessions;
    try {
      ({ sessions } = await listSessions({ user_id: me }));
      start.offer(sessions);
    } catch (err) {
      if (!latest()) return;
      sessionsSlot.replaceChildren(alertBox('error', err.message));
      return;
    }
    if (!latest()) return;
    const shown = sessions.filter((s) => showEnded.checked || s.status !== 'deleted')
      .sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
    sessionsSlot.replaceChildren(shown.length
      ? h('div', { class: 'session-cards' }, shown.map((s) => sessionCard(ctx, s, allow, loadSessions)))
      : h('div', { class: 'empty' }, 'You have no sessions. Start one above.'));
  };
  showEnded.addEventListener('change', loadSessions);

  add(ctx.main, 
    pageHead(`Welcome, ${ctx.id.username || me}`, { sub: 'Your workspace sessions, your usage, and what your groups allow.' }),
    h('div', { class: 'grid-2' },
      card('My usage', { label: 'My usage' }, usageSlot),
      card('My settings', { label: 'My settings', hint: 'from your groups' }, facts,
        (eff.sso_memberships || []).length
          ? h('ul', { class: 'sso-memberships', 'aria-label': 'Groups from your identity provider' },
            eff.sso_memberships.map((m) => h('li', { class: 'muted' }, m.explanation)))
          : null,
        h('h3', {}, 'Allowed'),
        h('div', { class: 'allowed' }, ALLOWED.filter(([n]) => val(n) === true).map(([, label]) => badge(label, 'ok'))),
        h('h3', {}, 'Not allowed'),
        h('div', { class: 'allowed' }, ALLOWED.filter(([n]) => val(n) !== true).map(([, label]) => badge(label))))),
    card('My sessions', { label: 'My sessions', actions: h('label', { class: 'check', for: 'show-ended' }, showEnded, 'Show ended sessions') },
      start.el, sessionsSlot));
  await Promise.all([
    usagePanel(ctx, me, { self: true }).then((el) => usageSlot.replaceChildren(el), (err) => usageSlot.replaceChildren(alertBox('error', err.message))),
    loadSessions(),
  ]);
}

function sessionCard(ctx, s, allow, after) {
  const live = s.status !== 'deleted';
  return h('article', { class: 'session-card', 'aria-label': `Session ${s.session_id}`, 'data-session': s.session_id },
    h('div', { class: 'top' }, h('span', { class: 'img' }, s.image_id), statusBadge(s.status)),
    s.time_limit_expires_at && live
      ? h('div', {}, h('span', { class: 'muted' }, 'Time left '), countdown(ctx, s.time_limit_expires_at, `Time left for session ${s.session_id}`))
      : null,
    h('dl', { class: 'facts' },
      h('dt', {}, 'Started'), h('dd', {}, timeEl(s.created_at)),
      live && !s.time_limit_expires_at ? [h('dt', {}, 'Expires'), h('dd', {}, timeEl(s.expires_at))] : null,
      s.time_limit_expires_at ? [h('dt', {}, 'Ends at'), h('dd', {}, timeEl(s.time_limit_expires_at))] : null,
      h('dt', {}, 'Type'), h('dd', {}, s.container ? 'container' : 'non-container'),
      s.expiration_reason ? [h('dt', {}, 'Reason'), h('dd', {}, s.expiration_reason)] : null),
    h('div', { class: 'btn-row' }, sessionButtons(s, allow, after),
      h('a', { href: `#/sessions/${encodeURIComponent(s.session_id)}`, class: 'small' }, 'History')));
}

/**
 * The form that starts a session: a free-text image id, with the user's default image and the
 * images of their recent sessions offered as one-click choices. offer(sessions) refreshes the
 * recent ones.
 */
function startForm(me, defaultImage, after) {
  const image = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', list: 'recent-images',
    placeholder: defaultImage ? `${defaultImage} (your default)` : 'e.g. kasmweb/desktop:1.16' });
  const options = h('datalist', { id: 'recent-images' });
  const choices = h('div', { class: 'image-choices', role: 'group', 'aria-label': 'Images to choose from' });
  const container = h('input', { type: 'checkbox', id: 'start-container', checked: true });
  const f = field('Workspace image', image, { help: defaultImage
    ? 'Leave empty for your default image, or pick one you used recently.'
    : 'You have no default image: type an image id, or pick one you used recently.' });
  const offer = (sessions) => {
    const recent = [];
    for (const s of sessions.slice().sort((a, b) => (a.created_at < b.created_at ? 1 : -1))) {
      if (s.image_id && !recent.includes(s.image_id)) recent.push(s.image_id);
    }
    const all = [...(defaultImage ? [defaultImage] : []), ...recent.filter((i) => i !== defaultImage)].slice(0, 6);
    options.replaceChildren(...all.map((i) => h('option', { value: i }, i === defaultImage ? 'your default' : 'used recently')));
    choices.replaceChildren(...all.map((i) => h('button', { type: 'button', class: 'small ghost chip', 'aria-label': `Use image ${i}`,
      onclick: () => { image.value = i; image.focus(); } }, i, i === defaultImage ? h('span', { class: 'muted' }, ' · default') : null)));
  };
  offer([]);
  // The workspaces the user may launch, by friendly name (issue 15): picking one fills the id.
  const picker = h('select', { id: 'workspace-picker', 'aria-label': 'Workspace to launch', hidden: true });
  picker.addEventListener('change', () => { if (picker.value) image.value = picker.value; });
  const pick = (workspaces) => {
    picker.hidden = workspaces.length === 0;
    picker.replaceChildren(h('option', { value: '' }, 'Choose a workspace…'),
      ...workspaces.map((w) => h('option', { value: w.workspace_id }, w.friendly_name)));
  };
  const el = h('form', { class: 'inline-fields start-form', 'aria-label': 'Start a session', novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    setFieldError(image, f.error, '');
    const id = image.value.trim();
    if (!id && !defaultImage) {
      setFieldError(image, f.error, 'Enter the image to start: you have no default image yet (an administrator sets default_image for your groups).');
      image.focus();
      return;
    }
    try {
      await api('POST', '/sessions', { body: { user_id: me, image_id: id, container: container.checked } });
      toast('Session started');
      image.value = '';
      await after();
    } catch (err) {
      setFieldError(image, f.error, err instanceof ApiError && err.code === 'no_default_image'
        ? 'Enter the image to start: you have no default image yet (an administrator sets default_image for your groups).'
        : err.message);
    }
  } }, h('div', { class: 'field grow' }, picker, f.wrap, options, choices),
  h('div', { class: 'field' }, h('label', { class: 'check', for: container.id }, container, 'Container-based')),
  h('div', { class: 'field' }, h('button', { type: 'submit', class: 'primary' }, 'Start session')));
  return { el, offer, pick };
}
