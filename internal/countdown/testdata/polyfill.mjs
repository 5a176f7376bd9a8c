// Preloaded with `node --import` so that aws-local-stepfunctions (which declares Node >= 22)
// runs on Node 20: Promise.withResolvers is the one Node 22 feature it uses.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new this((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}
