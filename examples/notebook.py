# %% [markdown]
# # fpexp from a notebook
#
# Each `# %%` block is a cell (VS Code, PyCharm, Jupyter with jupytext); `python
# examples/notebook.py` runs them all. Runs go where `python -m fpexp` puts them: `outputs/`
# under the working directory, listed by `fpexp runs` and reproduced by `fpexp rerun --check`.
# After every call the process is as it was: working directory, `sys.argv`, logging, signal
# handlers, torch's default dtype and RNG, Hydra's global state.

# %% A run: the CLI's overrides, the results as Python objects
import fpexp

run = fpexp.run("task=multiclass", "model.hidden=[8]", root="outputs")
print(run.dir, run.status)
print(run.metrics)  # accuracy, cross-entropy, ... (the animals have labels)

# %% Outputs and predictions as arrays, or as tables with the id column
outputs = run.outputs()  # numpy [rows, classes], in the run's dtype
predictions = run.predictions()  # class indices
table = run.table("predictions")  # a pyarrow.Table, whatever output.format was
print(outputs.shape, outputs.dtype, predictions.tolist())
print(dict(zip(table.column("id").to_pylist(), predictions.tolist(), strict=True)))

# %% The model with the run's saved weights: the same outputs again
import torch  # noqa: E402 (a notebook imports where a cell needs it)

model = run.model()  # an nn.Module in eval mode
features = torch.tensor([[1.0, 0.0, 0.0, 1.0, 4.0, 1.0]])  # hair, no feathers, ... a dog
with torch.inference_mode():
    print(model(features), "==", outputs[0])

# %% A bad value raises fpexp.UsageError with the CLI's one-line messages (no traceback)
try:
    fpexp.run("model.hidden=[0]", root="outputs")
except fpexp.UsageError as err:
    problems = err.problems  # [Problem('model.hidden', ...)]: str() is the CLI's line
print([str(p) for p in problems])

# %% A small sweep: the jobs run in this process, one after the other
sweep = fpexp.sweep("model.hidden=[2],[4]", "task=binary,multiclass", root="outputs")
for row in sweep.summary:
    print(row["job"], row["status"], row.get("accuracy"))
best = max(sweep.runs, key=lambda r: r.metrics.get("accuracy", 0))

# %% Every run so far, newest first; any CLI reference loads one
print([r.status for r in fpexp.runs(root="outputs")])
latest = fpexp.load("@latest", root="outputs")
job = fpexp.load(f"{sweep.dir}:3")
print(latest.dir, job.config["model"]["hidden"])

# %% What differs between two runs (what `fpexp diff --json` prints)
difference = fpexp.diff(run, best)
print(difference["empty"], difference["config"])

# %% Reproduce a run: check=True raises fpexp.NotReproduced if a file differs
again = fpexp.rerun(run, check=True)
print(again.dir, "reproduces", run.dir)
