"""Build the Lambda package exactly as a user does, and check the artifact before it ships.

    python -m scripts.package_lambda [--arch arm64] [--arch x86_64] [--out DIR] [--runs N]

For each architecture: `npx serverless package` (no Docker, no AWS account; the README's
command, with nothing done before or after it: the bytecode is built by the packaging
itself, deploy/bytecode.js), then check the result:

* cfn-lint passes on the generated CloudFormation template, with Lambda Managed Instances
  disabled (the default) and enabled;
* secrets by reference (deploy/secrets.js): the default build (the `ci` stage's example
  references) grants the functions' role exactly GetSecretValue on the database secret,
  GetParameter on the admin and orders keys' parameters and kms:Decrypt on the key, puts the
  Parameters
  and Secrets Extension's layer (cache off) on every function, and its environment holds the
  references, no plain-text value. The Managed Instances build also takes the plain-text
  path (databaseUrl, no secret): no such grant, no layer;
* the zip is at most 20 MB and holds only app/, alembic/, alembic.ini and dependencies;
* every native library is built for that architecture, every .py has its .pyc for the
  target Python, and every .pyc is hash-based (zip timestamps cannot make it stale);
* for the machine's own architecture, with the target Python: the unpacked, read-only tree
  migrates a fresh SQLite database through the package's own `migrate` handler, imports
  `app.lambda_handler` without compiling a single file of the tree, and serves `/health`.
  INIT (import + first invoke, harness/init_probe.py) is timed with and without the .pyc
  files (median of several fresh processes).

The target Python is the runtime serverless.yml deploys (`params.default.python`), found by
deploy/find-python. A missing one is reported; with CI=true it is an error.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import yaml

from harness import init_probe

REPO = Path(__file__).resolve().parent.parent


def stage_params(stage: str) -> dict[str, Any]:
    """One block of serverless.yml's `params:` ("default", "ci"), as strings and lists."""
    with (REPO / "serverless.yml").open() as config:
        # A plain load: the file's CloudFormation tags are not in this part of it.
        document = yaml.load(config, Loader=yaml.BaseLoader)  # noqa: S506
    block: dict[str, Any] = document["params"][stage]
    return block


def deployed_python() -> str:
    """The Python version serverless.yml deploys by default: "3.13" for python3.13."""
    return str(stage_params("default")["python"])


TARGET_VERSION = deployed_python()
# The plain-text path: no secret, a database URL (`ci` is one of the plainTextStages).
# --param cannot carry an empty value; the framework trims a space to "".
PLAIN_TEXT_URL = "sqlite:///tmp/x.db"
PLAIN_TEXT = (
    "databaseSecret= ",
    "adminApiKeySecret= ",
    "ordersApiKeySecret= ",
    f"databaseUrl={PLAIN_TEXT_URL}",
)
HERE = "arn:${AWS::Partition}:%s:${AWS::Region}:${AWS::AccountId}:"
# kms:Decrypt is granted only through Secrets Manager and SSM (deploy/secrets.js).
KMS_VIA_SERVICES = {
    "StringEquals": {
        "kms:ViaService": [
            {"Fn::Sub": f"{service}.${{AWS::Region}}.amazonaws.com"}
            for service in ("secretsmanager", "ssm")
        ]
    }
}
PYC_TAG = "cpython-" + TARGET_VERSION.replace(".", "")
MAX_ZIP_BYTES = 20 * 1024 * 1024
ELF_MACHINE = {"x86_64": 62, "arm64": 183}  # e_machine: EM_X86_64, EM_AARCH64
HOST_ARCH = {"x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine())
ALLOWED_SERVICE_FILES = ("app/", "alembic/", "alembic.ini")


class PackageError(Exception):
    pass


def say(message: str) -> None:
    print(f"[package] {message}", flush=True)


def find_target_python() -> str | None:
    """deploy/find-python: REFDATA_TARGET_PYTHON, python3.X on PATH, or pyenv's newest 3.X."""
    result = subprocess.run(
        [str(REPO / "deploy" / "find-python"), TARGET_VERSION],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else None


def build(arch: str, out: Path, *params: str, repo: Path = REPO, label: str = "") -> Path:
    """`npx serverless package` for one architecture (in `repo`: a checkout of this one);
    returns the directory it wrote: out/ARCH-LABEL (default label: the params' values)."""
    label = label or "-".join(p.partition("=")[2] for p in params)
    target = out / "-".join(filter(None, [arch, label]))
    shutil.rmtree(target, ignore_errors=True)
    env = {**os.environ, "SLS_TELEMETRY_DISABLED": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    command = [
        "npx",
        "serverless",
        "package",
        "--stage",
        "ci",
        "--region",
        "eu-west-1",
        f"--param=architecture={arch}",
        *(f"--param={param}" for param in params),
        "--package",
        str(target),
    ]
    say(" ".join(command) + " …")
    result = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PackageError(
            f"serverless package failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    for line in (result.stdout + result.stderr).splitlines():
        if line.startswith("bytecode:") or "arning" in line:
            say(line)
    return target


def lint_template(directory: Path) -> None:
    template = directory / "cloudformation-template-update-stack.json"
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    # W3005: the framework's own HTTP API route both Refs its integration and DependsOn it;
    # redundant, harmless, and not ours to change.
    result = subprocess.run(
        [str(cfn_lint), "--ignore-checks", "W3005", "--", str(template)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise PackageError(f"cfn-lint found problems:\n{result.stdout}{result.stderr}")
    say(f"cfn-lint: {directory.name}/{template.name} clean")


def check_managed_instances(directory: Path, enabled: bool) -> None:
    """With LMI enabled the template has the capacity provider, its role and the api
    function's configuration (and no reserved concurrency); disabled, none of them."""
    template = json.loads((directory / "cloudformation-template-update-stack.json").read_text())
    resources = template["Resources"]
    types = {resource["Type"] for resource in resources.values()}
    api = resources["ApiLambdaFunction"]["Properties"]
    has = {
        "capacity provider": "AWS::Lambda::CapacityProvider" in types,
        "api CapacityProviderConfig": "CapacityProviderConfig" in api,
        "api FunctionScalingConfig": "FunctionScalingConfig" in api,
    }
    wrong = [what for what, present in has.items() if present != enabled]
    reserved = api.get("ReservedConcurrentExecutions")
    if enabled and reserved != {"Ref": "AWS::NoValue"}:
        wrong.append("reserved concurrency (replaced by MaxExecutionEnvironments)")
    if wrong:
        state = "enabled" if enabled else "disabled"
        raise PackageError(f"managed instances {state}, but the template is wrong in: {wrong}")
    if enabled:
        config = api["CapacityProviderConfig"]["LambdaManagedInstancesCapacityProviderConfig"]
        say(
            "managed instances: capacity provider, operator role, "
            f"{config['PerExecutionEnvironmentMaxConcurrency']} processes per environment, "
            f"{api['FunctionScalingConfig']}"
        )


def check_secrets(directory: Path, by_reference: bool) -> None:
    """By reference (the `ci` stage's example secrets): the role may read exactly those, the
    extension's layer is on every function, the environment holds references and no value.
    Plain text (PLAIN_TEXT): no grant, no layer, the URL in the environment."""
    template = json.loads((directory / "cloudformation-template-update-stack.json").read_text())
    resources = template["Resources"]
    policy = resources["IamRoleLambdaExecution"]["Properties"]["Policies"][0]["PolicyDocument"]
    granted = [s for s in policy["Statement"] if not s["Action"][0].startswith("logs:")]
    functions = {
        name: resource["Properties"]
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Lambda::Function"
    }
    ci = stage_params("ci")
    database, admin, orders = (
        ci["databaseSecret"],
        ci["adminApiKeySecret"],
        ci["ordersApiKeySecret"],
    )
    # The examples are a full secret ARN (granted as it is) and SSM parameter names.
    if not (
        database.startswith("arn:aws:secretsmanager:")
        and admin.startswith("ssm:/")
        and orders.startswith("ssm:/")
    ):
        raise PackageError(
            f"the ci stage's example references changed: {database}, {admin}, {orders}"
        )
    parameters = [
        {"Fn::Sub": HERE % "ssm" + "parameter/" + name.removeprefix("ssm:").lstrip("/")}
        for name in (admin, orders)
    ]

    def allow(action: str, *resources: object) -> dict[str, object]:
        return {"Effect": "Allow", "Action": [action], "Resource": list(resources)}

    if by_reference:
        expected_grants = [
            allow("secretsmanager:GetSecretValue", database),
            allow("ssm:GetParameter", *parameters),
            {**allow("kms:Decrypt", ci["secretsKmsKeyArn"]), "Condition": KMS_VIA_SERVICES},
        ]
        expected_layers: list[str] | None = [ci["secretsExtensionLayer"]]
        expected_env = {
            "REFDATA_DATABASE_SECRET": database,
            "REFDATA_DATABASE_URL": "",
            "REFDATA_ADMIN_API_KEY_SECRET": admin,
            "REFDATA_ADMIN_API_KEY": "",
            "REFDATA_ORDERS_API_KEY_SECRET": orders,
            "REFDATA_ORDERS_API_KEY": "",
            "REFDATA_SECRETS_CLIENT": "extension",
            "PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED": "false",
        }
    else:
        expected_grants, expected_layers = [], None
        expected_env = {
            "REFDATA_DATABASE_SECRET": "",
            "REFDATA_DATABASE_URL": PLAIN_TEXT_URL,
            "REFDATA_ADMIN_API_KEY_SECRET": "",
            "REFDATA_ORDERS_API_KEY_SECRET": "",
            "PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED": None,  # absent
        }
    wrong = []
    if granted != expected_grants:
        wrong.append(f"the role grants {granted}, not {expected_grants}")
    if set(functions) != {"ApiLambdaFunction", "MigrateLambdaFunction"}:
        wrong.append(f"functions {sorted(functions)}, not api and migrate")
    for name, function in functions.items():
        if function.get("Layers") != expected_layers:
            wrong.append(f"{name} has layers {function.get('Layers')}, not {expected_layers}")
        variables = function.get("Environment", {}).get("Variables", {})
        env = {key: variables.get(key) for key in expected_env}
        if env != expected_env:
            wrong.append(f"{name}'s environment has {env}, not {expected_env}")
    if wrong:
        path = "by reference" if by_reference else "plain text"
        raise PackageError(f"secrets {path}, but the template is wrong: " + "; ".join(wrong))
    if by_reference:
        say(
            f"secrets by reference: {len(granted)} grants (secret, parameters, key), "
            f"the extension layer on {len(functions)} functions"
        )
    else:
        say("secrets in plain text: no grant, no layer")


def check_zip(directory: Path, arch: str) -> Path:
    artifact = directory / "refdata.zip"
    size = artifact.stat().st_size
    if size > MAX_ZIP_BYTES:
        raise PackageError(f"{artifact} is {size / 1e6:.1f} MB, over the 20 MB budget")
    with zipfile.ZipFile(artifact) as archive:
        names = archive.namelist()
        sources = {n for n in names if n.endswith(".py")}
        pycs = {n for n in names if n.endswith(".pyc")}
        missing = [
            n
            for n in sources
            if f"{n.rsplit('/', 1)[0] + '/' if '/' in n else ''}__pycache__/"
            f"{n.rsplit('/', 1)[-1][:-3]}.{PYC_TAG}.pyc" not in pycs
        ]
        timestamp_based = [
            n for n in pycs if int.from_bytes(archive.read(n)[4:8], "little") & 1 == 0
        ]
        wrong_arch = [
            n
            for n in names
            if (n.endswith(".so") or ".so." in n)
            and int.from_bytes(archive.read(n)[18:20], "little") != ELF_MACHINE[arch]
        ]
        service_dirs = {"app", "alembic", "alembic.ini"}
        tops = {n.split("/")[0] for n in names}
        own_code = [n for n in names if n.startswith(ALLOWED_SERVICE_FILES)]
    problems = []
    if missing:
        problems.append(f"{len(missing)} .py without a {PYC_TAG}.pyc, e.g. {sorted(missing)[:3]}")
    if timestamp_based:
        problems.append(f"{len(timestamp_based)} timestamp-based .pyc, e.g. {timestamp_based[:3]}")
    if wrong_arch:
        problems.append(f"native libraries not built for {arch}: {wrong_arch[:3]}")
    for forbidden in ("tests", "scripts", "node_modules", "docker", ".venv", "README.md"):
        if forbidden in tops:
            problems.append(f"{forbidden} must not be in the package")
    if not service_dirs <= tops or not any(n.startswith("app/lambda_handler") for n in own_code):
        problems.append("app/, alembic/ or alembic.ini missing from the package")
    if problems:
        raise PackageError(f"{artifact}: " + "; ".join(problems))
    say(
        f"{arch}: {size / 1e6:.1f} MB, {len(names)} files, {len(pycs)} .pyc (hash-based), "
        f"native code for {arch}"
    )
    return artifact


def probe_init(
    python: str,
    tree: Path,
    database_url: str,
    *,
    env: dict[str, str] | None = None,
    runtime_path: Path | None = None,
) -> dict[str, Any]:
    """INIT of the unpacked zip `tree`: on `database_url`, or on what `env` configures
    (REFDATA_DATABASE_URL="" and a secret, say). `runtime_path` stands for what the Lambda
    runtime itself puts on sys.path after the function's code (its boto3)."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "REFDATA_DATABASE_URL": database_url,
        "REFDATA_LOG_LEVEL": "WARNING",
        "AWS_LAMBDA_FUNCTION_NAME": "refdata-api",
        **(env or {}),
    }
    # -I: no PYTHON* variables, no site of this machine (the tree goes on sys.path by hand);
    # -B: never write bytecode, as on Lambda's read-only /var/task (root ignores chmod).
    code = f"import sys; sys.path.insert(0, {str(tree)!r})\n"
    if runtime_path is not None:
        code += f"sys.path.append({str(runtime_path)!r})\n"
    code += init_probe.PACKAGE_PROBE
    try:
        result = init_probe.run([python, "-I", "-B"], code, str(tree), cwd=tree, env=env)
    except init_probe.ProbeError as error:
        raise PackageError(f"importing the package failed: {error}") from None
    return init_probe.last_json(result)


def read_only(tree: Path) -> None:
    for path in [tree, *tree.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode & ~0o222)


def run_package(artifact: Path, python: str, runs: int) -> dict[str, float]:
    """Unpack, migrate with the package's own handler, import and invoke; time INIT."""
    with tempfile.TemporaryDirectory(prefix="refdata-package-") as scratch:
        root = Path(scratch)
        tree = root / "task"
        with zipfile.ZipFile(artifact) as archive:
            archive.extractall(tree)
        bare = root / "task-without-pyc"
        shutil.copytree(tree, bare, ignore=shutil.ignore_patterns("__pycache__"))
        read_only(tree)
        read_only(bare)
        database_url = f"sqlite:///{root / 'refdata.db'}"
        migrate = subprocess.run(
            [
                python,
                "-I",
                "-B",
                "-c",
                f"import sys, json; sys.path.insert(0, {str(tree)!r})\n"
                "from app.migrate import handler; print(json.dumps(handler({}, None)))",
            ],
            cwd=tree,
            env={"PATH": os.environ.get("PATH", ""), "REFDATA_DATABASE_URL": database_url},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if migrate.returncode != 0:
            raise PackageError(f"the package's migrate handler failed:\n{migrate.stderr[-4000:]}")
        say(f"migrate handler: {migrate.stdout.strip().splitlines()[-1]}")
        with_pyc, reports = init_probe.median_init(
            runs, lambda: probe_init(python, tree, database_url)
        )
        probe = reports[-1]
        if probe["status"] != 200:
            raise PackageError(f"/health answered {probe['status']}: {probe['health']}")
        compiled = probe["compiled"]
        if compiled:
            raise PackageError(f"INIT compiled files from source: {compiled}")
        without_pyc, bare_reports = init_probe.median_init(
            runs, lambda: probe_init(python, bare, database_url)
        )
        if not bare_reports[-1]["compiled"]:
            raise PackageError("the compile probe saw nothing even without .pyc; it is broken")
        say(
            f"INIT (import app.lambda_handler + first invoke, median of {runs}) with .pyc "
            f"{with_pyc:.0f} ms, without {without_pyc:.0f} ms; /health 200, 0 files compiled"
        )
        return {"init_with_pyc_ms": with_pyc, "init_without_pyc_ms": without_pyc}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", action="append", choices=sorted(ELF_MACHINE))
    parser.add_argument("--out", type=Path, default=REPO / ".serverless-ci")
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per INIT timing")
    args = parser.parse_args(argv)
    arches: list[str] = args.arch or sorted({"arm64", HOST_ARCH or "arm64"})

    python = find_target_python()
    if python is None:
        message = f"no Python {TARGET_VERSION} found (set REFDATA_TARGET_PYTHON)"
        if os.environ.get("CI") == "true":
            print(f"[package] ERROR: {message}", file=sys.stderr)
            return 1
        say(f"NOT CHECKED: {message}; the Lambda package was not built")
        return 0
    say(f"target Python: {python}")
    try:
        for arch in arches:
            directory = build(arch, args.out)
            lint_template(directory)
            check_managed_instances(directory, enabled=False)
            check_secrets(directory, by_reference=True)
            artifact = check_zip(directory, arch)
            if arch == HOST_ARCH:
                run_package(artifact, python, args.runs)
            else:
                host = platform.machine()
                say(f"{arch}: not importable on this {host} machine; checked statically")
        # One more build for both variants off the default: LMI and the plain-text path.
        directory = build(
            arches[0], args.out, "managedInstances=enabled", *PLAIN_TEXT, label="lmi-plain-text"
        )
        lint_template(directory)
        check_managed_instances(directory, enabled=True)
        check_secrets(directory, by_reference=False)
    except PackageError as error:
        print(f"[package] FAILED: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
