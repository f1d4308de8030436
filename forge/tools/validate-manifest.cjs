// Validates the Forge manifest offline with Atlassian's own validator (npm @forge/manifest,
// the one the Forge CLI runs): the schema, modules, resources, remotes, permissions. Prints
// each error with its line and exits 1 when there is one. `forge lint` needs a login; this
// does not.
"use strict";
const path = require("path");
const { validate } = require("@forge/manifest");

async function main() {
  // ${SSO_BASE_URL} is read from the environment, as the Forge CLI reads it at deploy time.
  process.env.SSO_BASE_URL = process.env.SSO_BASE_URL || "https://sso.example.com";
  const manifest = path.resolve(process.argv[2] || "manifest.yml");
  // Resources are resolved relative to the working directory, as the Forge CLI runs in the
  // app's folder.
  process.chdir(path.dirname(manifest));
  const result = await validate(false, manifest);
  const errors = result.errors || [];
  for (const error of errors) {
    const where = error.reference && error.reference.line ? ` (line ${error.reference.line})` : "";
    console.log(`${error.level || "error"}: ${error.message}${where}`);
  }
  const failed = !result.success || errors.some((e) => (e.level || "error") === "error");
  console.log(failed ? "manifest is not valid" : "manifest is valid");
  process.exit(failed ? 1 : 0);
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : String(error));
  process.exit(2);
});
