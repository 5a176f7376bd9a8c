// Runs the countdown state machine once with aws-local-stepfunctions and prints one JSON line:
// {"result", "error", "entered", "retried", "caught"}. Its only argument is a JSON file:
//   library        path of aws-local-stepfunctions' build/main.node.esm.js
//   definition     the ASL definition (a string)
//   inputURL       where to GET the execution input, once the machine is built (so that the
//                  caller can start the session's clock right before the execution starts)
//   taskURL        where each Task state's Lambda payload is POSTed (the Go task handler)
//   waitOverrides  optional: {state: milliseconds} for the Wait states
//   retryOverrides optional: {state: milliseconds} between retries
// The Task states invoke Lambda through the optimised integration (lambda:invoke), which
// hands the function Parameters.Payload; the override does the same. A function error comes
// back as Lambda's error document and is thrown with its errorType as the error name, which
// is what Retry and Catch match.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const { StateMachine } = await import(pathToFileURL(cfg.library).href);

async function invokeTask(input) {
  const resp = await fetch(cfg.taskURL, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ function_name: input.FunctionName, payload: input.Payload }),
  });
  const body = await resp.json();
  if (body && body.errorType) {
    const err = new Error(body.errorMessage);
    err.name = body.errorType;
    throw err;
  }
  return { StatusCode: 200, ExecutedVersion: '$LATEST', Payload: body };
}

const machine = new StateMachine(JSON.parse(cfg.definition));
const taskStates = Object.entries(JSON.parse(cfg.definition).States)
  .filter(([, s]) => s.Type === 'Task')
  .map(([name]) => name);
const input = await (await fetch(cfg.inputURL)).json();
const execution = machine.run(input, {
  overrides: {
    taskResourceLocalHandlers: Object.fromEntries(taskStates.map((name) => [name, invokeTask])),
    waitTimeOverrides: cfg.waitOverrides ?? {},
    retryIntervalOverrides: cfg.retryOverrides ?? {},
  },
});

const entered = [];
const retried = [];
const caught = [];
const logs = (async () => {
  for await (const ev of execution.eventLogs) {
    if (ev.type === 'StateEntered') entered.push(ev.state.name);
    if (ev.type === 'StateRetried') retried.push(ev.state.name);
    if (ev.type === 'StateCaught') caught.push(ev.state.name);
  }
})();

let result = null;
let error = null;
try {
  result = await execution.result;
} catch (e) {
  error = { name: e.name, message: e.message };
}
await logs;
console.log(JSON.stringify({ result, error, entered, retried, caught }));
