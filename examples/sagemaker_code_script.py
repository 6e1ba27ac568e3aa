"""SageMaker code script of this data-apps repository.

Every pipeline step whose ``code`` is this file starts here, whether it runs as a
SageMaker Processing job or locally (``Invoke-RlabsPipeline -InstanceType local``).
The runner always passes the mandatory arguments of the original ``rlabs aws pipeline``
contract, then every ``params`` entry of the step as ``--<name> <value>``:

    -j/--job-id             job id shared by all steps of a run            [required]
    -i/--input-data-zip     input data as a zip file (input_data ends in .zip)
    -ip/--input-data-path   input data as a folder (any other input_data)
    -o/--output-data-path   folder whose content becomes <output_path>/<job_id>/ [required]
    -s/--source-code-zip    the repository, zipped                          [required]
    -r/--requirements-path  requirements file to install before the step   [required]

The step itself is the ``run(ctx)`` function of the module named by ``--module``
(for example ``churn.prepare``), imported from the extracted source code.

On SageMaker only this one file is uploaded as the job's code, so it must stay
self-contained: standard library only, no imports from the repository at module level.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from dataclasses import dataclass, field

SCRIPT = "sagemaker_code_script"

# Options of the contract itself; every other --name is a step parameter.
CONTRACT_DESTS = {
    "job_id",
    "input_data_zip",
    "input_data_path",
    "output_data_path",
    "source_code_zip",
    "requirements_path",
}


def log(message: str) -> None:
    print(f"[{SCRIPT}] {message}", flush=True)


class StepError(Exception):
    """A failure with a message meant for the person reading the step log."""


@dataclass
class StepContext:
    """What a step module's run(ctx) gets."""

    job_id: str
    input_dir: str | None
    output_dir: str
    source_dir: str
    params: dict = field(default_factory=dict)
    credentials_path: str | None = None

    def log(self, message: str) -> None:
        print(f"[{self.params.get('module', 'step')}] {message}", flush=True)

    def param(self, name: str, default: str | None = None) -> str | None:
        value = self.params.get(name)
        return default if value is None or value == "" else value

    def source_path(self, relative: str) -> str:
        """Path of a file of the repository, refusing paths that leave it."""
        path = os.path.realpath(os.path.join(self.source_dir, relative))
        root = os.path.realpath(self.source_dir)
        if os.path.commonpath([path, root]) != root:
            raise StepError(f"'{relative}' is outside the source code")
        return path


def pair_long_options(argv: list[str]) -> list[str]:
    """Turn '--name value' into '--name=value'.

    The runner always passes a value after every long option, and argparse would
    otherwise take a value such as '-x' or '--verbose' for an option of its own.
    """
    paired: list[str] = []
    index = 0
    while index < len(argv):
        token = argv[index]
        if token.startswith("--") and len(token) > 2 and "=" not in token and index + 1 < len(argv):
            paired.append(f"{token}={argv[index + 1]}")
            index += 2
        else:
            paired.append(token)
            index += 1
    return paired


def build_parser() -> argparse.ArgumentParser:
    # allow_abbrev=False: a step parameter such as --out must never be taken for --output-data-path.
    parser = argparse.ArgumentParser(
        prog="sagemaker_code_script.py",
        description="Runs one data-apps pipeline step: module.run(ctx) from the source code zip.",
        allow_abbrev=False,
    )
    contract = parser.add_argument_group("mandatory arguments (passed by the pipeline runner)")
    contract.add_argument("-j", "--job-id", required=True, help="job id of the pipeline run")
    contract.add_argument("-i", "--input-data-zip", help="path to the input data zip file")
    contract.add_argument("-ip", "--input-data-path", help="path to the input data directory")
    contract.add_argument("-o", "--output-data-path", required=True, help="path to the output directory")
    contract.add_argument("-s", "--source-code-zip", required=True, help="path to the source code zip file")
    contract.add_argument("-r", "--requirements-path", required=True, help="path to the requirements.txt file")

    step = parser.add_argument_group("step parameters (the step's params in the pipeline YAML)")
    step.add_argument("--module", required=True, help="module whose run(ctx) is the step, e.g. churn.prepare")
    step.add_argument("--dataset", help="CSV file of the repository to prepare (churn.prepare)")
    step.add_argument("--seed", help="seed of the train/test split (churn.prepare)")
    step.add_argument("--test_fraction", help="share of rows kept for testing (churn.prepare)")
    step.add_argument("--learning_rate", help="gradient descent step size (churn.train)")
    step.add_argument("--epochs", help="gradient descent iterations (churn.train)")
    step.add_argument("--l2", help="L2 penalty (churn.train)")
    step.add_argument("--threshold", help="probability above which a customer is predicted to churn (churn.score)")
    step.add_argument("--train_id", help="identifier of the training run, kept in the outputs")
    return parser


def parse_arguments(argv: list[str]) -> tuple[argparse.Namespace, dict]:
    parser = build_parser()
    args, extra = parser.parse_known_args(pair_long_options(argv))
    params = {k: v for k, v in vars(args).items() if k not in CONTRACT_DESTS and v is not None}
    # Parameters this script does not declare still reach the step, as the YAML promises.
    for token in extra:
        name, sep, value = token.partition("=")
        if not name.startswith("--") or not sep:
            parser.error(f"unexpected argument '{token}' (step parameters are passed as --name value)")
        params[name[2:].replace("-", "_")] = value
    if args.input_data_zip and args.input_data_path:
        parser.error("pass either --input-data-zip or --input-data-path, not both")
    return args, params


def requirement_lines(path: str) -> list[str]:
    """Lines pip would install from; comments, blanks and bare options don't count."""
    lines = []
    with open(path, encoding="utf-8-sig") as handle:
        for raw in handle:
            line = raw.split(" #", 1)[0].strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("-") and not line.startswith(("-r", "--requirement", "-e", "--editable")):
                continue
            lines.append(line)
    return lines


def install_requirements(path: str) -> None:
    if not os.path.isfile(path):
        raise StepError(f"requirements file not found: {path}")
    lines = requirement_lines(path)
    if not lines:
        log(f"no requirements in {os.path.basename(path)}, skipping pip")
        return
    log(f"installing {len(lines)} requirement line(s) with pip")
    command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-r", path]
    completed = subprocess.run(command, check=False)
    if completed.returncode != 0:
        raise StepError(f"pip install -r {path} failed with exit code {completed.returncode}")


def extract_zip(path: str, destination: str, what: str) -> None:
    if not os.path.isfile(path):
        raise StepError(f"{what} zip not found: {path}")
    try:
        with zipfile.ZipFile(path) as archive:
            # extractall drops absolute paths and '..', so nothing lands outside destination.
            archive.extractall(destination)
            count = len(archive.namelist())
    except zipfile.BadZipFile as error:
        raise StepError(f"{what} zip is not a valid zip file: {path} ({error})") from error
    log(f"extracted {count} entries of the {what} zip")


def credentials_sections(path: str) -> list[str]:
    """Top-level keys of the credentials YAML, read without a YAML library."""
    sections = []
    with open(path, encoding="utf-8-sig") as handle:
        for line in handle:
            if not line.strip() or line[0] in " \t#-":
                continue
            key = line.split(":", 1)[0].strip().strip("'\"")
            if key and ":" in line:
                sections.append(key)
    return sections


def show_credentials() -> str | None:
    path = os.environ.get("RLABS_CREDENTIALS_FILE")
    if not path:
        log("no credentials file (RLABS_CREDENTIALS_FILE is not set)")
        return None
    if not os.path.isfile(path):
        raise StepError(f"RLABS_CREDENTIALS_FILE points at a missing file: {path}")
    sections = credentials_sections(path)
    # Section names only: the values are secrets and the step log is kept on disk.
    log(f"credentials file: {path} (sections: {', '.join(sections) or 'none'})")
    return path


def run_step(args: argparse.Namespace, params: dict) -> None:
    started = time.monotonic()
    log(f"job {args.job_id}: step module {params['module']}")
    install_requirements(args.requirements_path)
    credentials_path = show_credentials()

    os.makedirs(args.output_data_path, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rlabs-source-") as source_dir, \
            tempfile.TemporaryDirectory(prefix="rlabs-input-") as zip_input_dir:
        extract_zip(args.source_code_zip, source_dir, "source code")

        input_dir = None
        if args.input_data_zip:
            extract_zip(args.input_data_zip, zip_input_dir, "input data")
            input_dir = zip_input_dir
        elif args.input_data_path:
            if not os.path.isdir(args.input_data_path):
                raise StepError(f"input data folder not found: {args.input_data_path}")
            input_dir = args.input_data_path
        log(f"input: {input_dir or '(none)'}; output: {args.output_data_path}")

        # Modules may live at the repository root or under src/.
        for folder in (os.path.join(source_dir, "src"), source_dir):
            if os.path.isdir(folder):
                sys.path.insert(0, folder)
        try:
            module = importlib.import_module(params["module"])
        except ImportError as error:
            raise StepError(f"cannot import step module '{params['module']}': {error}") from error
        run = getattr(module, "run", None)
        if not callable(run):
            raise StepError(f"module '{params['module']}' has no run(ctx) function")

        ctx = StepContext(
            job_id=args.job_id,
            input_dir=input_dir,
            output_dir=os.path.abspath(args.output_data_path),
            source_dir=source_dir,
            params=params,
            credentials_path=credentials_path,
        )
        try:
            run(ctx)
        except StepError:
            raise
        except Exception as error:
            # Printed here, while the extracted source still exists, so the traceback shows its lines.
            traceback.print_exc()
            sys.stderr.flush()
            raise StepError(f"step {params['module']} failed: {type(error).__name__}: {error}") from error
    log(f"job {args.job_id}: {params['module']} completed in {time.monotonic() - started:.2f}s")


def main(argv: list[str] | None = None) -> int:
    args, params = parse_arguments(sys.argv[1:] if argv is None else argv)
    try:
        run_step(args, params)
    except StepError as error:
        print(f"[{SCRIPT}] ERROR: {error}", file=sys.stderr, flush=True)
        return 1
    except Exception as error:  # a bug of this script: the traceback helps, the last line says what failed
        traceback.print_exc()
        sys.stderr.flush()
        print(f"[{SCRIPT}] ERROR: step {params.get('module')} failed: {type(error).__name__}: {error}",
              file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
