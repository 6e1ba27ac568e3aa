"""Notebook runner of this data-apps repository: a SageMaker code script that executes a notebook.

Takes the mandatory arguments of the ``rlabs aws pipeline`` contract like every code script
(see sagemaker_code_script.py), plus:

    --notebook_path  path of the notebook inside the source code zip   [required]
    --kernel_name    Jupyter kernel to run it with                       [default: python3]
    --cell_timeout   seconds one cell may run                            [default: 1800]

Every other ``--<name> <value>`` parameter, with ``job_id``, ``input_data_path`` and
``output_data_path``, is injected into the notebook as a code cell of string assignments,
placed right after the cell tagged ``parameters`` (or first, when there is none), as
papermill does. The executed notebook, outputs included, is written to
``<output>/notebooks/<notebook name>.ipynb``, also when a cell fails.

Needs nbformat, nbclient and ipykernel in the Python that runs this script
(Debian: apt-get install python3-nbclient python3-nbformat python3-ipykernel;
elsewhere: python -m pip install nbclient nbformat ipykernel, or list them in requirements.txt).
Self-contained on purpose: on SageMaker this file is uploaded alone as the job's code.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile

SCRIPT = "run_notebook_wrapper"

CONTRACT_DESTS = {
    "job_id",
    "input_data_zip",
    "input_data_path",
    "output_data_path",
    "source_code_zip",
    "requirements_path",
}
WRAPPER_DESTS = {"notebook_path", "kernel_name", "cell_timeout"}


def log(message: str) -> None:
    print(f"[{SCRIPT}] {message}", flush=True)


class StepError(Exception):
    """A failure with a message meant for the person reading the step log."""


def pair_long_options(argv: list[str]) -> list[str]:
    """Turn '--name value' into '--name=value' so a value such as '-x' stays a value."""
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
    parser = argparse.ArgumentParser(
        prog="run_notebook_wrapper.py",
        description="Runs one data-apps pipeline step: executes a notebook of the source code zip.",
        allow_abbrev=False,
    )
    contract = parser.add_argument_group("mandatory arguments (passed by the pipeline runner)")
    contract.add_argument("-j", "--job-id", required=True, help="job id of the pipeline run")
    contract.add_argument("-i", "--input-data-zip", help="path to the input data zip file")
    contract.add_argument("-ip", "--input-data-path", help="path to the input data directory")
    contract.add_argument("-o", "--output-data-path", required=True, help="path to the output directory")
    contract.add_argument("-s", "--source-code-zip", required=True, help="path to the source code zip file")
    contract.add_argument("-r", "--requirements-path", required=True, help="path to the requirements.txt file")

    wrapper = parser.add_argument_group("notebook parameters (the step's params in the pipeline YAML)")
    wrapper.add_argument("--notebook_path", required=True, help="notebook path inside the source code zip")
    wrapper.add_argument("--kernel_name", default="python3", help="Jupyter kernel name [default: python3]")
    wrapper.add_argument("--cell_timeout", default="1800", help="seconds one cell may run [default: 1800]")
    wrapper.add_argument("--train_id", help="identifier of the training run the notebook reports on")
    return parser


def parse_arguments(argv: list[str]) -> tuple[argparse.Namespace, dict]:
    parser = build_parser()
    args, extra = parser.parse_known_args(pair_long_options(argv))
    params = {k: v for k, v in vars(args).items()
              if k not in CONTRACT_DESTS and k not in WRAPPER_DESTS and v is not None}
    for token in extra:
        name, sep, value = token.partition("=")
        if not name.startswith("--") or not sep:
            parser.error(f"unexpected argument '{token}' (step parameters are passed as --name value)")
        params[name[2:].replace("-", "_")] = value
    for name in params:
        if not name.isidentifier():
            parser.error(f"parameter --{name} cannot be injected into a notebook: not a Python identifier")
    if args.input_data_zip and args.input_data_path:
        parser.error("pass either --input-data-zip or --input-data-path, not both")
    try:
        args.cell_timeout = int(args.cell_timeout)
        if args.cell_timeout <= 0:
            raise ValueError
    except ValueError:
        parser.error(f"--cell_timeout must be a positive whole number of seconds, got '{args.cell_timeout}'")
    return args, params


def requirement_lines(path: str) -> list[str]:
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
            archive.extractall(destination)
            count = len(archive.namelist())
    except zipfile.BadZipFile as error:
        raise StepError(f"{what} zip is not a valid zip file: {path} ({error})") from error
    log(f"extracted {count} entries of the {what} zip")


def import_notebook_libraries():
    try:
        import nbformat
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError
    except ImportError as error:
        raise StepError(
            f"cannot import nbclient/nbformat in {sys.executable} ({error}); "
            "install python3-nbclient python3-nbformat python3-ipykernel (Debian) "
            "or run: pip install nbclient nbformat ipykernel"
        ) from error
    return nbformat, NotebookClient, CellExecutionError


def injected_source(values: dict) -> str:
    lines = ["# Parameters", "# Injected by run_notebook_wrapper.py; every value is a string, as passed on the command line."]
    lines.extend(f"{name} = {value!r}" for name, value in values.items())
    return "\n".join(lines) + "\n"


def inject_parameters(nbformat, notebook, values: dict) -> str:
    """Adds the injected-parameters cell; returns where it went, for the log."""
    # A rerun of an executed notebook must not stack a second injected cell.
    notebook.cells = [c for c in notebook.cells
                      if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    cell = nbformat.v4.new_code_cell(source=injected_source(values))
    cell.metadata["tags"] = ["injected-parameters"]
    for index, existing in enumerate(notebook.cells):
        if "parameters" in existing.get("metadata", {}).get("tags", []):
            notebook.cells.insert(index + 1, cell)
            return f"after the parameters cell (cell {index + 1})"
    notebook.cells.insert(0, cell)
    return "as the first cell (the notebook has no cell tagged parameters)"


def run_notebook(args: argparse.Namespace, params: dict) -> None:
    started = time.monotonic()
    log(f"job {args.job_id}: notebook {args.notebook_path}")
    install_requirements(args.requirements_path)
    nbformat, NotebookClient, CellExecutionError = import_notebook_libraries()
    credentials = os.environ.get("RLABS_CREDENTIALS_FILE")
    log(f"credentials file: {credentials}" if credentials else "no credentials file (RLABS_CREDENTIALS_FILE is not set)")

    output_dir = os.path.abspath(args.output_data_path)
    os.makedirs(output_dir, exist_ok=True)
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
            input_dir = os.path.abspath(args.input_data_path)

        notebook_file = os.path.realpath(os.path.join(source_dir, args.notebook_path))
        if os.path.commonpath([notebook_file, os.path.realpath(source_dir)]) != os.path.realpath(source_dir):
            raise StepError(f"notebook_path '{args.notebook_path}' is outside the source code")
        if not os.path.isfile(notebook_file):
            raise StepError(f"notebook not found in the source code zip: {args.notebook_path}")
        notebook = nbformat.read(notebook_file, as_version=4)

        values = {"job_id": args.job_id, "input_data_path": input_dir, "output_data_path": output_dir}
        values.update(params)
        where = inject_parameters(nbformat, notebook, values)
        log(f"injected {len(values)} parameter(s) {where}: {', '.join(values)}")

        result_file = os.path.join(output_dir, "notebooks", os.path.basename(args.notebook_path))
        os.makedirs(os.path.dirname(result_file), exist_ok=True)
        client = NotebookClient(
            notebook,
            timeout=args.cell_timeout,
            kernel_name=args.kernel_name,
            # Relative paths in the notebook resolve against its folder in the source code.
            resources={"metadata": {"path": os.path.dirname(notebook_file)}},
        )
        # Silences debugpy's frozen-modules warning, which the kernel prints at every start.
        os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        log(f"executing {len(notebook.cells)} cells with kernel {args.kernel_name}")
        try:
            client.execute()
        except CellExecutionError as error:
            nbformat.write(notebook, result_file)
            last = str(error).strip().splitlines()
            raise StepError(
                f"notebook {args.notebook_path} failed; executed notebook saved to {result_file}: "
                f"{last[-1] if last else type(error).__name__}"
            ) from error
        except Exception as error:
            nbformat.write(notebook, result_file)
            raise StepError(f"notebook {args.notebook_path} could not run: {type(error).__name__}: {error}") from error
        nbformat.write(notebook, result_file)
        log(f"wrote {os.path.relpath(result_file, output_dir)}")
    log(f"job {args.job_id}: notebook completed in {time.monotonic() - started:.2f}s")


def main(argv: list[str] | None = None) -> int:
    args, params = parse_arguments(sys.argv[1:] if argv is None else argv)
    try:
        run_notebook(args, params)
    except StepError as error:
        print(f"[{SCRIPT}] ERROR: {error}", file=sys.stderr, flush=True)
        return 1
    except Exception as error:  # the traceback helps, the last line says what failed
        traceback.print_exc()
        sys.stderr.flush()
        print(f"[{SCRIPT}] ERROR: notebook {args.notebook_path} failed: {type(error).__name__}: {error}",
              file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
