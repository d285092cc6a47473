// A Fapiao client in Node.js, built from protos/ as shipped and nothing else: the worked example of
// docs/integrating.md, and CI's proof that a client in another language can call the register and read its errors.
//
//   node tests/interop/client.js < plan.json
//
// plan.json: {"target": "HOST:PORT", "api_key": "fpk_...", "verify": VerifyInvoiceRequest,
//             "issue": IssueInvoiceRequest, "bad_issue": IssueInvoiceRequest, "verify_until_refused": N}
// (requests in the proto field names). Prints one JSON object: what each step got back. Needs @grpc/grpc-js,
// @grpc/proto-loader and protobufjs (tests/interop/package.json) where require() finds them (NODE_PATH).
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");
const protobuf = require("protobufjs");

const PROTOS = path.resolve(__dirname, "..", "..", "protos");
// The two include paths every generator needs: our contract, and the googleapis files it imports
// (google/rpc/status.proto, google/type/date.proto) and that describe the error details.
const INCLUDE = [PROTOS, path.join(PROTOS, "third_party")];
const DEADLINE_MS = 10000;

// Stubs, loaded at run time. keepCase keeps the proto field names (invoice_code, not invoiceCode); longs as
// strings, since amounts in fen are int64; enums by name.
const definition = protoLoader.loadSync(
  ["fapiao/v1/verification_service.proto", "fapiao/v1/invoice_service.proto"],
  { includeDirs: INCLUDE, keepCase: true, longs: String, enums: String, defaults: false, oneofs: true },
);
const fapiao = grpc.loadPackageDefinition(definition).fapiao.v1;

// The error details: google.rpc.Status from the grpc-status-details-bin trailer, and each Any in it by its type.
const errors = new protobuf.Root();
errors.resolvePath = (origin, target) => {
  for (const dir of INCLUDE) {
    const candidate = path.join(dir, target);
    if (fs.existsSync(candidate)) return candidate;
  }
  return protobuf.util.path.resolve(origin, target); // google/protobuf/*: protobufjs ships them
};
errors.loadSync(["google/rpc/status.proto", "google/rpc/error_details.proto"], { keepCase: true });
const Status = errors.lookupType("google.rpc.Status");
const TO_OBJECT = { longs: String, enums: String, defaults: false };

function decodeDetails(error) {
  const [raw] = error.metadata ? error.metadata.get("grpc-status-details-bin") : [];
  if (!raw) return null;
  const status = Status.decode(raw);
  const details = {};
  for (const any of status.details) {
    const name = any.type_url.slice(any.type_url.lastIndexOf("/") + 1); // type.googleapis.com/google.rpc.X
    const type = errors.lookupType(name);
    details[name.replace("google.rpc.", "")] = type.toObject(type.decode(any.value), TO_OBJECT);
  }
  return { code: status.code, message: status.message, details };
}

function seconds(duration) {
  return duration ? Number(duration.seconds || 0) + (duration.nanos || 0) / 1e9 : null;
}

// What a refusal carried, as an integration acts on it.
function refusal(error) {
  const status = decodeDetails(error);
  const d = status ? status.details : {};
  return {
    code: grpc.status[error.code],
    message: error.details,
    status_code: status && status.code, // the same code, inside google.rpc.Status
    reason: d.ErrorInfo && d.ErrorInfo.reason,
    domain: d.ErrorInfo && d.ErrorInfo.domain,
    metadata: d.ErrorInfo && d.ErrorInfo.metadata,
    field_violations: d.BadRequest ? d.BadRequest.field_violations.map((v) => v.field) : [],
    retry_after_seconds: d.RetryInfo ? seconds(d.RetryInfo.retry_delay) : null,
    quota_violations: d.QuotaFailure ? d.QuotaFailure.violations : [],
    detail_types: Object.keys(d).sort(),
  };
}

function call(client, method, request, apiKey) {
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${apiKey}`);
  const deadline = new Date(Date.now() + DEADLINE_MS);
  return new Promise((resolve) => {
    client[method](request, metadata, { deadline }, (error, response) =>
      resolve(error ? { error: refusal(error) } : { response }),
    );
  });
}

async function main() {
  const plan = JSON.parse(fs.readFileSync(0, "utf8"));
  const credentials = grpc.credentials.createInsecure(); // TLS: grpc.credentials.createSsl(rootCa[, key, cert])
  const verification = new fapiao.VerificationService(plan.target, credentials);
  const invoices = new fapiao.InvoiceService(plan.target, credentials);
  const out = {};

  const verified = await call(verification, "VerifyInvoice", plan.verify, plan.api_key);
  out.verify = verified.error || {
    outcome: verified.response.outcome,
    invoice_number: verified.response.invoice && verified.response.invoice.invoice_number,
    verifications_left_today: verified.response.verifications_left_today,
  };

  const issued = await call(invoices, "IssueInvoice", plan.issue, plan.api_key);
  out.issue = issued.error || {
    invoice_number: issued.response.invoice.invoice_number,
    state: issued.response.invoice.state,
    total_fen: issued.response.invoice.total_fen,
  };
  // The same request id again: the register answers with the first result instead of issuing twice.
  const repeated = await call(invoices, "IssueInvoice", plan.issue, plan.api_key);
  out.issue_repeated = repeated.error || { invoice_number: repeated.response.invoice.invoice_number };

  out.bad_request = (await call(invoices, "IssueInvoice", plan.bad_issue, plan.api_key)).error || null;
  out.unauthenticated = (await call(verification, "VerifyInvoice", plan.verify, "fpk_not_a_key")).error || null;

  // Verify the same invoice until a quota refuses it: the refusal says which quota and when to come back.
  out.exhausted = null;
  for (let attempt = 0; attempt < plan.verify_until_refused && !out.exhausted; attempt++) {
    const again = await call(verification, "VerifyInvoice", plan.verify, plan.api_key);
    if (again.error) out.exhausted = again.error;
  }

  verification.close();
  invoices.close();
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
