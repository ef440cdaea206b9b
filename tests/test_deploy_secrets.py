"""deploy/secrets.js: secrets by reference in the deployment (serverless.yml's `custom.secrets`).

The plugin's rules run in one node process against a stand-in of the framework (fast: every
reference form, every refusal); then a few real `serverless package` and `serverless print`
runs check that serverless.yml wires it in (about 2 s each: the guard fails before anything
is packaged). The successful package itself is `make package`'s (scripts/package_lambda.py).
Without node or node_modules these tests skip locally and fail under CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness import REPO
from scripts.package_lambda import KMS_VIA_SERVICES

NODE = shutil.which("node")
NPX = shutil.which("npx")
HERE = "arn:${AWS::Partition}:%s:${AWS::Region}:${AWS::AccountId}:"
FULL_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:refdata/prod/database-AbCdEf"
PARTIAL_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:refdata/prod/database"
PARAMETER_ARN = "arn:aws:ssm:eu-west-1:123456789012:parameter/refdata/prod/admin-key"
KMS_KEY = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
# Example ids; the layer named as AWS names the extension's (the arm64 one ends in -Arm64).
LAYER = "arn:aws:lambda:eu-west-1:123456789012:layer:AWS-Parameters-and-Secrets-Lambda-Extension"
X86_LAYER, ARM_LAYER = f"{LAYER}:17", f"{LAYER}-Arm64:17"

# Runs the plugin's hook once per case (JSON on stdin) on a stand-in serverless object and
# prints, per case, the error message or what it changed.
HARNESS = r"""
const Secrets = require(process.argv[1]);
class ServerlessError extends Error {}
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const results = cases.map(({ secrets, stage, architecture, providerLayers }) => {
  const functions = { api: {}, migrate: { layers: undefined } };
  const provider = { architecture, environment: { A: '1' }, layers: providerLayers };
  const serverless = {
    classes: { Error: ServerlessError },
    service: {
      custom: { secrets },
      provider,
      getAllFunctions: () => Object.keys(functions),
      getFunction: (name) => functions[name],
    },
    getProvider: () => ({ getStage: () => stage, getRegion: () => 'eu-west-1' }),
  };
  const notices = [];
  const plugin = new Secrets(serverless, {}, { log: { notice: (m) => notices.push(m) } });
  try {
    plugin.hooks['before:package:cleanup']();
  } catch (error) {
    if (!(error instanceof ServerlessError)) throw error;
    return { error: error.message };
  }
  return {
    statements: (provider.iam && provider.iam.role && provider.iam.role.statements) || [],
    layers: Object.fromEntries(Object.entries(functions).map(([n, f]) => [n, f.layers || null])),
    environment: provider.environment,
    notices,
  };
});
console.log(JSON.stringify(results));
"""


def require_node() -> str:
    missing = None
    if NODE is None or NPX is None:
        missing = "node/npx not on PATH"
    elif not (REPO / "node_modules" / "serverless").is_dir():
        missing = "node_modules/serverless missing (npm ci)"
    if missing is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true requires the deploy tooling: {missing}")
        pytest.skip(missing)
    assert NODE is not None
    return NODE


def secrets(**overrides: Any) -> dict[str, Any]:
    """custom.secrets as serverless.yml resolves it for a stage with these params."""
    config: dict[str, Any] = {
        "databaseSecret": "refdata/prod/database",
        "databaseUrl": "",
        "adminApiKeySecret": "",
        "adminApiKey": "",
        "ordersApiKeySecret": "",
        "ordersApiKey": "",
        "kmsKeyArn": "",
        "client": "extension",
        "extensionLayer": ARM_LAYER,
        "plainTextStages": ["dev", "local", "ci"],
    }
    return {**config, **overrides}


def sub(service: str, rest: str) -> dict[str, str]:
    return {"Fn::Sub": HERE % service + rest}


def allow(action: str, *resources: object) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": [action], "Resource": list(resources)}


# (case id, stage, custom.secrets, expected: the role's statements, or an error's words)
CASES: list[tuple[str, str, dict[str, Any], list[dict[str, Any]] | str]] = [
    (
        "secret name",
        "prod",
        secrets(),
        [
            allow(
                "secretsmanager:GetSecretValue",
                sub("secretsmanager", "secret:refdata/prod/database-??????"),
            )
        ],
    ),
    (
        "full secret ARN",
        "prod",
        secrets(databaseSecret=FULL_ARN),
        [allow("secretsmanager:GetSecretValue", FULL_ARN)],
    ),
    (
        "partial secret ARN",
        "prod",
        secrets(databaseSecret=PARTIAL_ARN),
        [allow("secretsmanager:GetSecretValue", PARTIAL_ARN + "-??????")],
    ),
    (
        "ssm name and key",
        "prod",
        secrets(databaseSecret="ssm:/refdata/prod/database", kmsKeyArn=KMS_KEY),
        [
            allow("ssm:GetParameter", sub("ssm", "parameter/refdata/prod/database")),
            {**allow("kms:Decrypt", KMS_KEY), "Condition": KMS_VIA_SERVICES},
        ],
    ),
    (
        "ssm ARN and an ssm name without its slash",
        "prod",
        secrets(databaseSecret=PARAMETER_ARN, adminApiKeySecret="ssm:refdata/prod/other"),
        [allow("ssm:GetParameter", PARAMETER_ARN, sub("ssm", "parameter/refdata/prod/other"))],
    ),
    (
        "both references, one action each",
        "prod",
        secrets(databaseSecret=FULL_ARN, adminApiKeySecret="ssm:/refdata/prod/admin-key"),
        [
            allow("secretsmanager:GetSecretValue", FULL_ARN),
            allow("ssm:GetParameter", sub("ssm", "parameter/refdata/prod/admin-key")),
        ],
    ),
    (
        "the orders key too: one statement for both parameters",
        "prod",
        secrets(
            databaseSecret=FULL_ARN,
            adminApiKeySecret="ssm:/refdata/prod/admin-key",
            ordersApiKeySecret="ssm:/refdata/prod/orders-key",
        ),
        [
            allow("secretsmanager:GetSecretValue", FULL_ARN),
            allow(
                "ssm:GetParameter",
                sub("ssm", "parameter/refdata/prod/admin-key"),
                sub("ssm", "parameter/refdata/prod/orders-key"),
            ),
        ],
    ),
    (
        "plain text on dev",
        "dev",
        secrets(databaseSecret="", databaseUrl="sqlite:///x", kmsKeyArn=KMS_KEY),
        [],
    ),
    (
        "plain URL on prod",
        "prod",
        secrets(databaseSecret="", databaseUrl="sqlite:///x"),
        "not a development stage",
    ),
    ("plain admin key on prod", "prod", secrets(adminApiKey="k"), "adminApiKey is set for stage"),
    (
        "plain orders key on prod",
        "prod",
        secrets(ordersApiKey="k"),
        "ordersApiKey is set for stage",
    ),
    (
        "plain text allowed by plainTextStages",
        "qa",
        secrets(databaseSecret="", databaseUrl="sqlite:///x", plainTextStages=["qa"]),
        [],
    ),
    ("both", "dev", secrets(databaseUrl="sqlite:///x"), "both databaseSecret and databaseUrl"),
    (
        "both admin keys",
        "dev",
        secrets(adminApiKeySecret="ssm:/k", adminApiKey="k"),
        "both adminApiKeySecret",
    ),
    (
        "both orders keys",
        "dev",
        secrets(ordersApiKeySecret="ssm:/k", ordersApiKey="k"),
        "both ordersApiKeySecret",
    ),
    ("neither", "prod", secrets(databaseSecret=""), "neither databaseSecret nor databaseUrl"),
    ("unknown client", "prod", secrets(client="boto3"), "must be one of extension, sdk"),
    ("no layer", "prod", secrets(extensionLayer=""), "secretsExtensionLayer is empty"),
    (
        "layer of another region",
        "prod",
        secrets(extensionLayer=ARM_LAYER.replace("eu-west-1", "us-east-1")),
        "is in us-east-1",
    ),
    (
        "x86_64 layer on arm64",
        "prod",
        secrets(extensionLayer=X86_LAYER),
        "not the extension's arm64 layer",
    ),
    (
        "key alias",
        "prod",
        secrets(kmsKeyArn="arn:aws:kms:eu-west-1:123456789012:alias/db"),
        "not a key ARN",
    ),
    (
        "other ARN",
        "prod",
        secrets(databaseSecret="arn:aws:s3:::bucket/key"),
        "not a Secrets Manager or SSM ARN",
    ),
]


@pytest.fixture(scope="module")
def outcomes() -> dict[str, dict[str, Any]]:
    node = require_node()
    cases: list[dict[str, Any]] = [
        {"secrets": config, "stage": stage, "architecture": "arm64", "providerLayers": None}
        for _, stage, config, _ in CASES
    ]
    # The layer cases: sdk needs none; a provider-level layer is kept beside the extension's.
    cases.append(
        {
            "secrets": secrets(client="sdk", extensionLayer=""),
            "stage": "prod",
            "architecture": "arm64",
        }
    )
    cases.append(
        {
            "secrets": secrets(),
            "stage": "prod",
            "architecture": "arm64",
            "providerLayers": ["arn:own:1"],
        }
    )
    result = subprocess.run(
        [node, "-e", HARNESS, str(REPO / "deploy" / "secrets.js")],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    replies: list[dict[str, Any]] = json.loads(result.stdout)
    names = [name for name, *_ in CASES] + ["sdk", "provider layers"]
    return dict(zip(names, replies, strict=True))


@pytest.mark.parametrize(("name", "expected"), [(name, expected) for name, _, _, expected in CASES])
def test_the_role_reads_exactly_the_referenced_secrets(
    outcomes: dict[str, dict[str, Any]], name: str, expected: list[dict[str, Any]] | str
) -> None:
    outcome = outcomes[name]
    if isinstance(expected, str):
        assert expected in outcome.get("error", ""), outcome
        assert outcome["error"].startswith("deploy/secrets: ")
    else:
        assert "error" not in outcome, outcome["error"]
        assert outcome["statements"] == expected


def test_the_extension_layer_goes_on_every_function_with_its_cache_off(
    outcomes: dict[str, dict[str, Any]],
) -> None:
    referenced = outcomes["secret name"]
    assert referenced["layers"] == {"api": [ARM_LAYER], "migrate": [ARM_LAYER]}
    assert referenced["environment"] == {
        "A": "1",
        "PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED": "false",
    }
    # A function's own layers replace the provider's: those stay, the extension's is added.
    assert outcomes["provider layers"]["layers"]["api"] == ["arn:own:1", ARM_LAYER]


def test_no_layer_without_a_secret_or_with_the_sdk(outcomes: dict[str, dict[str, Any]]) -> None:
    for name in ("plain text on dev", "sdk"):
        assert outcomes[name]["layers"] == {"api": None, "migrate": None}, name
        assert outcomes[name]["environment"] == {"A": "1"}, name
    assert outcomes["sdk"]["statements"] == CASES[0][3]  # the grant does not depend on it


def serverless(*args: str) -> subprocess.CompletedProcess[str]:
    require_node()
    assert NPX is not None
    env = {**os.environ, "SLS_TELEMETRY_DISABLED": "1"}
    return subprocess.run(
        [NPX, "serverless", *args, "--region", "eu-west-1"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_package_refuses_a_plain_text_database_url_outside_development(tmp_path: Path) -> None:
    result = serverless(
        "package",
        "--stage",
        "prod",
        "--param=databaseSecret= ",
        "--param=databaseUrl=sqlite:///x",
        "--package",
        str(tmp_path / "package"),
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert 'databaseUrl is set for stage "prod", which is not a development stage' in output
    assert "lambda:GetFunctionConfiguration" in output
    assert not (tmp_path / "package").exists()


def test_package_for_prod_by_default_needs_the_extension_layer(tmp_path: Path) -> None:
    result = serverless("package", "--stage", "prod", "--package", str(tmp_path / "package"))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert 'secretsExtensionLayer is empty for stage "prod"' in output
    assert "AWS Parameters and Secrets Lambda Extension ARNs" in output


def test_the_dev_stage_takes_the_plain_text_path() -> None:
    result = serverless("print", "--stage", "dev", "--format", "json")
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    environment = config["provider"]["environment"]
    assert environment["REFDATA_DATABASE_SECRET"] == ""
    assert environment["REFDATA_DATABASE_URL"] == "{{resolve:ssm:/refdata/dev/database-url}}"
    assert environment["REFDATA_SECRETS_CLIENT"] == "extension"
    assert config["plugins"][0] == "./deploy/secrets"
