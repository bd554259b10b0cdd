"""The arena's one page: a prompt, answers A and B, five choices with keyboard shortcuts.

Plain HTML and a little JavaScript, kept in Python so the package needs no data files. Text is
put in with `textContent`, never as HTML, so an answer cannot inject markup. URLs are relative,
so the page also works behind a reverse proxy under a path prefix.
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>xiulian arena</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 1100px; margin: 0 auto; padding: 1rem; color: #222; }
  header { display: flex; justify-content: space-between; align-items: baseline; gap: 1rem; }
  h1 { font-size: 1.3rem; margin: .2rem 0 .8rem; }
  h2 { font-size: 1rem; margin: 0 0 .4rem; }
  .turn { white-space: pre-wrap; background: #f3f4f6; border-radius: 6px; padding: .6rem .8rem; margin: .4rem 0; }
  .role { display: block; font-size: .75rem; color: #666; text-transform: uppercase; letter-spacing: .05em; }
  #answers { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; margin-top: 1rem; }
  @media (max-width: 720px) { #answers { grid-template-columns: 1fr; } }
  .answer { border: 1px solid #d1d5db; border-radius: 6px; padding: .6rem .8rem; }
  .answer div { white-space: pre-wrap; overflow-wrap: anywhere; }
  .empty { color: #888; font-style: italic; }
  #choices { display: flex; flex-wrap: wrap; gap: .5rem; margin: 1rem 0; }
  button { font: inherit; padding: .45rem .9rem; border: 1px solid #9ca3af; border-radius: 6px; background: #fff; cursor: pointer; }
  button:hover { background: #f3f4f6; }
  button:disabled { opacity: .5; cursor: wait; }
  kbd { font: .8rem ui-monospace, monospace; border: 1px solid #bbb; border-radius: 3px; padding: 0 .3rem; margin-right: .3rem; }
  #status { color: #555; }
</style>
</head>
<body>
<header><h1>Which answer is better?</h1><span id="progress"></span></header>
<p id="status">Sampling answers&hellip;</p>
<main id="comparison" hidden>
  <section id="prompt" aria-label="prompt"></section>
  <div id="answers">
    <section class="answer"><h2>A</h2><div id="answer-A"></div></section>
    <section class="answer"><h2>B</h2><div id="answer-B"></div></section>
  </div>
  <div id="choices">
    <button data-judgement="A"><kbd>1</kbd>A is better</button>
    <button data-judgement="B"><kbd>2</kbd>B is better</button>
    <button data-judgement="tie"><kbd>3</kbd>Tie</button>
    <button data-judgement="both_bad"><kbd>4</kbd>Both bad</button>
    <button data-judgement="skip"><kbd>S</kbd>Skip</button>
  </div>
</main>
<script>
const KEYS = { "1": "A", "2": "B", "3": "tie", "4": "both_bad", "s": "skip", "S": "skip" };
const main = document.getElementById("comparison");
const status = document.getElementById("status");
let current = null;
let busy = true;

function setBusy(value) {
  busy = value;
  for (const button of document.querySelectorAll("#choices button")) button.disabled = value;
}

function showProgress(progress) {
  document.getElementById("progress").textContent = `${progress.judged} judged \\u00b7 ${progress.left} to go`;
}

function fill(element, text) {
  element.textContent = text || "(empty answer)";
  element.classList.toggle("empty", !text);
}

function render(data) {
  const prompt = document.getElementById("prompt");
  prompt.replaceChildren();
  for (const message of data.messages) {
    const turn = document.createElement("div");
    turn.className = "turn";
    const role = document.createElement("span");
    role.className = "role";
    role.textContent = message.role;
    turn.append(role, document.createTextNode(message.content));
    prompt.append(turn);
  }
  fill(document.getElementById("answer-A"), data.answers.A);
  fill(document.getElementById("answer-B"), data.answers.B);
  main.dataset.id = data.id;
  main.hidden = false;
  status.hidden = true;
}

async function load() {
  setBusy(true);
  current = null;
  status.textContent = "Sampling answers\\u2026";
  status.hidden = false;
  try {
    const response = await fetch("api/next");
    const data = await response.json();
    showProgress(data.progress);
    if (data.done) {
      main.hidden = true;
      delete main.dataset.id;
      status.textContent = "Every prompt is judged. Thank you! You can close this page.";
      return;
    }
    current = data;
    render(data);
    setBusy(false);
  } catch (error) {
    status.textContent = `Lost the arena server (${error}). Reload the page when it is back.`;
  }
}

async function judge(judgement) {
  if (busy || !current) return;
  setBusy(true);
  try {
    const response = await fetch("api/judge", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ id: current.id, judgement }),
    });
    if (!response.ok && response.status !== 409) throw new Error(`HTTP ${response.status}`);
  } catch (error) {
    status.textContent = `Not saved (${error}); try again.`;
    status.hidden = false;
    setBusy(false);
    return;
  }
  await load();
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
  const judgement = KEYS[event.key];
  if (judgement) {
    event.preventDefault();
    judge(judgement);
  }
});
for (const button of document.querySelectorAll("#choices button")) {
  button.addEventListener("click", () => judge(button.dataset.judgement));
}
load();
</script>
</body>
</html>
"""
