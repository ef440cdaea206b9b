'use strict';

// The artifact carries bytecode for the function's runtime, built by the packaging itself:
// `serverless package`, `serverless deploy` and `make package` all run this plugin, so what
// is deployed is what the gate checked.
//
// 1. Before anything is packaged: find a Python of the runtime's version (python3.13 for
//    `runtime: python3.13`) with deploy/find-python, and hand it to
//    serverless-python-requirements as its pythonBin, so pip picks wheels as that Python.
// 2. After the requirements are in the zip (this plugin is listed after that one): run
//    deploy/compile_artifact.py with that Python on the zip. Every .py gets a hash-based
//    .pyc for that interpreter and every other .pyc goes (see that file for why).

const { execFileSync } = require('child_process');
const path = require('path');

class Bytecode {
  constructor(serverless, cliOptions, { log } = {}) {
    this.serverless = serverless;
    this.log = log || { notice: (message) => serverless.cli.log(message) };
    this.python = null;
    this.hooks = {
      'before:package:cleanup': () => this.choosePython(),
      'after:package:createDeploymentArtifacts': () => this.compile(),
      'before:deploy:function:initialize': () => this.choosePython(),
      'after:deploy:function:packageFunction': () => this.compile(),
    };
  }

  get version() {
    const runtime = this.serverless.service.provider.runtime || '';
    const match = /^python(3\.\d+)$/.exec(runtime);
    if (!match) {
      throw new this.serverless.classes.Error(
        `deploy/bytecode: provider.runtime "${runtime}" is not a pythonX.Y runtime`,
      );
    }
    return match[1];
  }

  choosePython() {
    if (this.python) return;
    const finder = path.join(this.serverless.serviceDir, 'deploy', 'find-python');
    try {
      this.python = execFileSync(finder, [this.version], { encoding: 'utf8' }).trim();
    } catch (error) {
      throw new this.serverless.classes.Error(
        `deploy/bytecode: the package needs a Python ${this.version} (the Lambda runtime's) ` +
          `to pick wheels and compile bytecode: ${String(error.stderr || error.message).trim()}`,
      );
    }
    const custom = (this.serverless.service.custom = this.serverless.service.custom || {});
    custom.pythonRequirements = { ...(custom.pythonRequirements || {}), pythonBin: this.python };
    this.log.notice(`bytecode: Python ${this.version} is ${this.python}`);
  }

  compile() {
    this.choosePython();
    const artifacts = new Set();
    const servicePackage = this.serverless.service.package || {};
    if (servicePackage.artifact) artifacts.add(servicePackage.artifact);
    for (const name of this.serverless.service.getAllFunctions()) {
      const functionPackage = this.serverless.service.getFunction(name).package || {};
      if (functionPackage.artifact) artifacts.add(functionPackage.artifact);
    }
    const script = path.join(this.serverless.serviceDir, 'deploy', 'compile_artifact.py');
    for (const artifact of artifacts) {
      const report = execFileSync(this.python, ['-I', script, artifact], { encoding: 'utf8' });
      this.log.notice(`bytecode: ${path.basename(artifact)}: ${report.trim()}`);
    }
  }
}

module.exports = Bytecode;
