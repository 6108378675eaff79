// Runs in the browser once the source viewer is mounted: one capture-phase click listener for the
// whole page (citation links in chat bubbles, source links in the panel, copy buttons).
const st = window.__sourceAssistant || (window.__sourceAssistant = {});
st.trigger = trigger;
if (!st.installed) {
  st.installed = true;
  const copyText = async (text) => {
    try { await navigator.clipboard.writeText(text); return true; } catch (err) {
      const ta = document.createElement('textarea');
      ta.value = text; ta.setAttribute('readonly', ''); ta.style.position = 'fixed'; ta.style.opacity = '0';
      document.body.appendChild(ta); ta.select();
      let ok = false; try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
      ta.remove(); return ok;
    }
  };
  document.addEventListener('click', (ev) => {
    const t = ev.target instanceof Element ? ev.target : null;
    if (!t) return;
    const btn = t.closest('button.copy-answer');
    if (btn) {
      ev.preventDefault(); ev.stopPropagation();
      const box = btn.closest('.answer');
      if (!box) return;
      const parts = Array.from(box.querySelectorAll('.short-answer-line, .answer-text, .answer-sources'))
        .map((n) => n.innerText.trim()).filter(Boolean);
      copyText(parts.join('\n\n')).then((ok) => {
        if (!ok) return;
        const old = btn.textContent;
        btn.textContent = btn.value; btn.classList.add('copied');
        setTimeout(() => { btn.textContent = old; btn.classList.remove('copied'); }, 1600);
      });
      return;
    }
    const a = t.closest('a[href^="#cite-"], a[href^="#full-"], a[href^="#source-"]');
    if (!a) return;
    ev.preventDefault(); ev.stopPropagation();
    let ref = a.getAttribute('href').slice(1);
    try { ref = decodeURIComponent(ref); } catch (e) { /* keep it raw */ }
    st.trigger('open_ref', { ref: ref });
    const v = document.getElementById('source-viewer');
    if (v && window.innerWidth < 900 && !v.contains(a)) {
      // narrow screens: the viewer opens as a drawer over the chat; closing it leaves the page where it was
      st.scrollY = window.scrollY;
      v.classList.add('drawer-open');
      if (!document.getElementById('drawer-close')) {
        const close = document.createElement('button');
        close.id = 'drawer-close'; close.type = 'button'; const labels = document.getElementById('ui-labels');
        close.textContent = (labels && labels.dataset.close) || '×';
        close.addEventListener('click', (e) => {
          e.preventDefault(); e.stopPropagation();
          v.classList.remove('drawer-open');
          window.scrollTo(0, st.scrollY || 0);
        });
        v.prepend(close);
      }
    }
  }, true);
}
const scrollToMark = () => {
  const m = element.querySelector('mark');
  const box = element.querySelector('.viewer-body');
  if (m && box) box.scrollTop = Math.max(0, m.offsetTop - box.offsetTop - 48);
};
if (typeof watch === 'function') watch('value', scrollToMark);
