// The window: no Node here, only the calls preload.cjs exposes.
const $ = (id) => document.getElementById(id);
let current = null;
let n = 0;

window.halfbyte.info().then((i) => ($('model').textContent = `${i.architecture}: ${i.path}`));
window.halfbyte.on('chunk', ({ id, text }) => {
  if (id === current) $('out').textContent += text;
});
const finish = (id, note) => {
  if (id !== current) return;
  current = null;
  $('go').disabled = false;
  $('stop').disabled = true;
  $('out').textContent += `\n\n[${note}]`;
};
window.halfbyte.on('done', ({ id, tokens }) => finish(id, `${tokens} tokens`));
window.halfbyte.on('error', ({ id, code }) => finish(id, code === 'ABORTED' ? 'stopped' : code));

$('go').onclick = async () => {
  current = String(++n);
  $('out').textContent = $('prompt').value;
  $('go').disabled = true;
  $('stop').disabled = false;
  await window.halfbyte.generate(current, $('prompt').value, { temperature: 0.8 });
};
$('stop').onclick = () => current && window.halfbyte.stop(current);
