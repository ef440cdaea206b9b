'use strict';

// serverless-python-requirements leaves the dependencies' top-level __pycache__/ out of the
// zip, so a top-level module (typing_extensions.py) would be compiled from source on every
// cold start: Lambda's filesystem is read-only and cannot cache it. Put that bytecode back.

const fs = require('fs');
const path = require('path');
const JSZip = require('jszip');

class RootBytecode {
  constructor(serverless) {
    this.serverless = serverless;
    // Registered after serverless-python-requirements (see plugins:), so this runs after
    // it has injected the dependencies into the artifact.
    this.hooks = { 'after:package:createDeploymentArtifacts': () => this.addRootBytecode() };
  }

  async addRootBytecode() {
    const cache = path.join(this.serverless.serviceDir, '.serverless', 'requirements', '__pycache__');
    const artifact = this.serverless.service.package.artifact;
    if (!artifact || !fs.existsSync(cache)) return;
    const zip = await JSZip.loadAsync(fs.readFileSync(artifact));
    const names = fs.readdirSync(cache).filter((name) => name.endsWith('.pyc')).sort();
    for (const name of names) {
      // A fixed date, like the rest of the zip: the same input gives the same artifact.
      zip.file(`__pycache__/${name}`, fs.readFileSync(path.join(cache, name)), {
        date: new Date(0),
        unixPermissions: 0o644,
      });
    }
    const buffer = await zip.generateAsync({
      type: 'nodebuffer',
      platform: 'UNIX',
      compression: 'DEFLATE',
      compressionOptions: { level: 9 },
    });
    fs.writeFileSync(artifact, buffer);
    this.serverless.cli.log(`root-bytecode: added ${names.length} top-level .pyc`);
  }
}

module.exports = RootBytecode;
