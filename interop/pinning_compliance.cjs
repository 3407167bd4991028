// Preloaded (`node --require`) when running @ipfs-shipyard/pinning-service-compliance, so the
// official suite runs here unchanged:
// 1. At start the suite downloads the Pinning Service API's OpenAPI file from
//    raw.githubusercontent.com, which this machine cannot reach; that one request is answered
//    from the file named by $PINNING_SPEC (setup.sh takes it from the Go module proxy).
// 2. Its schema converter calls util.isObject, util.isNumber and the other type checks that
//    Node 23 removed; they are put back with the meanings Node documented for them.
"use strict";
const https = require("https");
const util = require("util");
const fs = require("fs");
const { PassThrough } = require("stream");

const removed = {
  isArray: Array.isArray,
  isBoolean: (v) => typeof v === "boolean",
  isBuffer: (v) => Buffer.isBuffer(v),
  isDate: (v) => v instanceof Date,
  isError: (v) => v instanceof Error,
  isFunction: (v) => typeof v === "function",
  isNull: (v) => v === null,
  isNullOrUndefined: (v) => v === null || v === undefined,
  isNumber: (v) => typeof v === "number",
  isObject: (v) => v !== null && typeof v === "object",
  isPrimitive: (v) => v === null || (typeof v !== "object" && typeof v !== "function"),
  isRegExp: (v) => v instanceof RegExp,
  isString: (v) => typeof v === "string",
  isSymbol: (v) => typeof v === "symbol",
  isUndefined: (v) => v === undefined,
};
for (const [name, fn] of Object.entries(removed)) {
  if (typeof util[name] !== "function") util[name] = fn;
}

const spec = process.env.PINNING_SPEC;
if (!spec || !fs.existsSync(spec)) {
  throw new Error("PINNING_SPEC must name the Pinning Service API's OpenAPI file");
}
const get = https.get;
https.get = function (options, callback) {
  const host = typeof options === "string" ? new URL(options).host : options.hostname || options.host;
  if (host !== "raw.githubusercontent.com") {
    return get.apply(this, arguments);
  }
  const response = new PassThrough();
  response.statusCode = 200;
  response.headers = { "content-type": "text/yaml" };
  const request = new PassThrough();
  request.setTimeout = () => request;
  request.abort = () => {};
  process.nextTick(() => {
    if (callback) callback(response);
    request.emit("response", response);
    response.end(fs.readFileSync(spec));
  });
  return request;
};
