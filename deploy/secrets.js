'use strict';

// Secrets by reference: the functions' environment says where the database credentials and
// the admin key live (REFDATA_DATABASE_SECRET, REFDATA_ADMIN_API_KEY_SECRET), never what
// they are; the app fetches them at INIT. This plugin makes the deployment match the
// references in custom.secrets (serverless.yml, from the params), before anything is packaged
// (`serverless package`, `serverless deploy`, `serverless deploy function`):
//
// 1. Guard: a plain-text value (databaseUrl, adminApiKey) ends up in the function
//    configuration and the CloudFormation template, readable by anyone with
//    lambda:GetFunctionConfiguration or cloudformation:GetTemplate. Only the stages in
//    plainTextStages may set one. Exactly one of databaseSecret and databaseUrl is set.
// 2. IAM: the shared role (provider.iam.role.statements; `api` and `migrate` both read the
//    database secret) may read exactly the referenced secrets and parameters, and decrypt
//    with secretsKmsKeyArn when the secret is encrypted with a customer-managed key.
// 3. With secretsClient=extension: the AWS Parameters and Secrets Lambda Extension's layer on
//    every function, with its cache off (the app caches each secret once per process and
//    must see a rotated password at once; the extension has no per-request bypass).
//
// Listed first in `plugins:`, so the guard fails before any other plugin's work.

const CLIENTS = ['extension', 'sdk'];
// Characters Secrets Manager allows in a secret name and SSM in a parameter name (so none
// can be a ${...} of Fn::Sub).
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]+$/;
const PARAMETER_NAME = /^[A-Za-z0-9/_.-]+$/;
const LAYER_ARN = /^arn:[^:]+:lambda:([^:]+):\d{12}:layer:([^:]+):\d+$/;
const KMS_KEY_ARN = /^arn:[^:]+:kms:[^:]+:\d{12}:key\/[^/]+$/;
const HERE = 'arn:${AWS::Partition}:%s:${AWS::Region}:${AWS::AccountId}:';
const GET_SECRET = 'secretsmanager:GetSecretValue';
const VIA_SERVICES = ['secretsmanager', 'ssm'].map((name) => ({
  'Fn::Sub': `${name}.\${AWS::Region}.amazonaws.com`,
}));

// What one reference needs: the IAM action and the resource it is allowed on. `fail` throws.
function grantFor(reference, fail) {
  const sub = (service, rest) => ({ 'Fn::Sub': HERE.replace('%s', service) + rest });
  if (reference.startsWith('ssm:')) {
    // ssm:/a/b (or ssm:a/b): a parameter's ARN is parameter/a/b, the slash not doubled.
    const name = reference.slice(4).replace(/^\/+/, '');
    if (!PARAMETER_NAME.test(name)) fail(`"${reference}" is not an SSM parameter name`);
    return { action: 'ssm:GetParameter', resource: sub('ssm', `parameter/${name}`) };
  }
  if (/^arn:[^:]+:ssm:/.test(reference)) {
    if (!/:parameter\/./.test(reference)) fail(`"${reference}" is not an SSM parameter ARN`);
    return { action: 'ssm:GetParameter', resource: reference };
  }
  if (/^arn:[^:]+:secretsmanager:/.test(reference)) {
    const name = reference.split(':secret:')[1];
    if (!name || !SECRET_NAME.test(name)) fail(`"${reference}" is not a secret ARN`);
    // A full ARN ends in the 6 random characters Secrets Manager appends to the name; a
    // partial one (without them) matches any of them. (A name that itself ends in "-" and
    // 6 letters, such as db-secret, reads as a full ARN: pass it as a name or a full ARN.)
    const full = /-[A-Za-z0-9]{6}$/.test(name);
    return { action: GET_SECRET, resource: full ? reference : `${reference}-??????` };
  }
  if (reference.startsWith('arn:')) fail(`"${reference}" is not a Secrets Manager or SSM ARN`);
  if (!SECRET_NAME.test(reference)) fail(`"${reference}" is not a Secrets Manager secret name`);
  return { action: GET_SECRET, resource: sub('secretsmanager', `secret:${reference}-??????`) };
}

class Secrets {
  constructor(serverless, cliOptions, { log } = {}) {
    this.serverless = serverless;
    this.log = log || { notice: (message) => serverless.cli.log(message) };
    this.done = false;
    this.hooks = {
      'before:package:cleanup': () => this.configure(),
      'before:deploy:function:initialize': () => this.configure(),
    };
  }

  fail(message) {
    throw new this.serverless.classes.Error(`deploy/secrets: ${message}`);
  }

  configure() {
    if (this.done) return;
    this.done = true;
    const { service } = this.serverless;
    const provider = this.serverless.getProvider('aws');
    const stage = provider.getStage();
    const config = (service.custom && service.custom.secrets) || {};
    const value = (key) => (config[key] == null ? '' : String(config[key]).trim());
    const fail = (message) => this.fail(message);

    // 1. The guard.
    const plainTextStages = [].concat(config.plainTextStages || []).map(String);
    const pairs = [
      ['databaseSecret', 'databaseUrl'],
      ['adminApiKeySecret', 'adminApiKey'],
      ['ordersApiKeySecret', 'ordersApiKey'],
    ];
    for (const [secret, plain] of pairs) {
      if (value(plain) && !plainTextStages.includes(stage)) {
        fail(
          `${plain} is set for stage "${stage}", which is not a development stage ` +
            `(plainTextStages: ${plainTextStages.join(', ') || 'none'}). Its value would sit in ` +
            'plain text in the function configuration and the CloudFormation template, readable ' +
            'with lambda:GetFunctionConfiguration. Store it in Secrets Manager (or as an SSM ' +
            `SecureString) and pass a reference in ${secret} instead, with ${plain} empty.`,
        );
      }
      if (value(secret) && value(plain)) {
        fail(`both ${secret} and ${plain} are set for stage "${stage}": set one (the other to "")`);
      }
    }
    if (!value('databaseSecret') && !value('databaseUrl')) {
      fail(`neither databaseSecret nor databaseUrl is set for stage "${stage}": set one`);
    }
    const client = value('client');
    if (!CLIENTS.includes(client)) {
      fail(`secretsClient is "${client}": it must be one of ${CLIENTS.join(', ')}`);
    }

    // 2. IAM: exactly the referenced resources.
    const references = ['databaseSecret', 'adminApiKeySecret', 'ordersApiKeySecret']
      .map(value)
      .filter(Boolean);
    if (references.length === 0) return;
    const statements = [];
    for (const { action, resource } of references.map((reference) => grantFor(reference, fail))) {
      const statement = statements.find((s) => s.Action[0] === action);
      const same = (r) => JSON.stringify(r) === JSON.stringify(resource);
      if (!statement) statements.push({ Effect: 'Allow', Action: [action], Resource: [resource] });
      else if (!statement.Resource.some(same)) statement.Resource.push(resource);
    }
    const kmsKey = value('kmsKeyArn');
    if (kmsKey) {
      if (!KMS_KEY_ARN.test(kmsKey)) fail(`secretsKmsKeyArn "${kmsKey}" is not a key ARN`);
      // Only for decrypting through Secrets Manager or SSM, not any use of the key.
      statements.push({
        Effect: 'Allow',
        Action: ['kms:Decrypt'],
        Resource: [kmsKey],
        Condition: { StringEquals: { 'kms:ViaService': VIA_SERVICES } },
      });
    }
    const iam = (service.provider.iam = service.provider.iam || {});
    if (typeof iam.role === 'string') {
      const needs = JSON.stringify(statements);
      this.log.notice(`secrets: provider.iam.role is ${iam.role}; it must allow ${needs}`);
    } else {
      iam.role = iam.role || {};
      iam.role.statements = [...(iam.role.statements || []), ...statements];
    }

    // 3. The extension: its layer on every function (all of them get the references).
    if (client !== 'extension') {
      this.log.notice(`secrets: ${references.join(', ')} through the SDK (boto3)`);
      return;
    }
    const layer = value('extensionLayer');
    if (!layer) {
      fail(
        `secretsClient is "extension" but secretsExtensionLayer is empty for stage "${stage}". ` +
          'Pass the layer ARN for this region and architecture, as AWS publishes it in "AWS ' +
          'Parameters and Secrets Lambda Extension ARNs" (linked from https://docs.aws.amazon' +
          '.com/secretsmanager/latest/userguide/retrieving-secrets_lambda.html): ' +
          '--param="secretsExtensionLayer=arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION" ' +
          'or a secretsExtensionLayer in the stage block. Or set secretsClient=sdk.',
      );
    }
    const match = LAYER_ARN.exec(layer);
    if (!match) fail(`secretsExtensionLayer "${layer}" is not a layer version ARN (…:NAME:N)`);
    const [, layerRegion, layerName] = match;
    const region = provider.getRegion();
    if (layerRegion !== region) {
      fail(`secretsExtensionLayer is in ${layerRegion}; the functions are in ${region}`);
    }
    // AWS publishes one layer per architecture; the arm64 one's name ends in -Arm64.
    const architecture = service.provider.architecture || 'x86_64';
    const awsLayer = layerName.startsWith('AWS-Parameters-and-Secrets-Lambda-Extension');
    if (awsLayer && layerName.endsWith('-Arm64') !== (architecture === 'arm64')) {
      fail(`secretsExtensionLayer ${layerName} is not the extension's ${architecture} layer`);
    }
    for (const name of service.getAllFunctions()) {
      const fn = service.getFunction(name);
      // A function's own `layers` replace the provider's: start from whichever applies.
      const layers = [].concat(fn.layers || service.provider.layers || []);
      if (!layers.includes(layer)) fn.layers = [...layers, layer];
    }
    service.provider.environment = {
      ...(service.provider.environment || {}),
      PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED: 'false',
    };
    this.log.notice(`secrets: ${references.join(', ')} through the extension layer ${layer}`);
  }
}

module.exports = Secrets;
module.exports.grantFor = grantFor;
