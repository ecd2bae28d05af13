// Every transcript in tests/transcripts/ replayed against chat.js's ClientSession.
//
// tests/test_transcripts.py replays the same files against the Python ClientSession, so
// the two state machines cannot drift apart. Run: node --test tests/js/
"use strict";

const { test } = require("node:test");
const assert = require("node:assert");
const fs = require("node:fs");
const path = require("node:path");

const { transcriptFiles, replay } = require("./replay.js");

const files = transcriptFiles();

test("there are transcripts to replay", () => {
  assert.ok(files.length >= 1, "no JSON files in tests/transcripts/");
});

for (const file of files) {
  const name = path.basename(file);
  test(`transcript ${name}`, () => {
    const script = JSON.parse(fs.readFileSync(file, "utf8"));
    assert.equal(typeof script.description, "string", `${name} needs a description`);
    assert.ok(Array.isArray(script.steps) && script.steps.length, `${name} needs steps`);
    replay(script, name);
  });
}
