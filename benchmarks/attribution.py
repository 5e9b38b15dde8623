"""Attribution visualisation: the batched optimisation (many visualisations
as one tensor program) against a one-at-a-time loop, in the same run, for
each conv block of the Table 3 CNN and each perturbation asked for. Prints
seconds per visualisation of --steps steps and the speed-up.

    .venv/bin/python benchmarks/attribution.py [--threads 1] [--batch 64] [--steps 64] [--loop 4] [--repeat 3]

Both paths run the same code (aemap.attribution.visualise, its default
settings); the loop calls it with one item at a time, as a plain
implementation would. Both are also timed with the model as written
(PyTorch's default layout, its own kernels and module order), to show what
aemap's defaults add: on the CPU the channels-last layout and the first
convolution's image gradient as a matrix product
(aemap.attribution.fastconv), and everywhere max-pool before ReLU
(aemap.models.layout). The loop as written is what an implementation that
runs the network as it comes, one image at a time, costs (the authors'
code does that); the speed-ups are against both loops. The last two columns time the network alone at the
batch size (forward passes to the layer and image gradients, aemap's
defaults, nothing else): the loop's time over it is the most any batching
of this network could gain on this machine, everything else being free.
Both paths run in one process that keeps freed memory, as the workflow's
jobs do (compute.keep_freed_memory; --hand-back-freed-memory
leaves glibc's allocator as it is).
Each time is the best of --repeat runs (the
least disturbed by other work on the machine). Per-step cost is
constant, so --steps only sets the measuring time; the table scales to 512
steps (the default preset). Weights from results/arumugam_cnn/model.pt when
present, else random (speed depends on the shapes only). On a machine with
CUDA the batched path also runs on the GPU.

--breakdown prints, for each layer, where a step of the network alone goes
at the batch size, operation by operation (aemap.attribution.step_timing:
hooks, no profiler, whose overhead inflates memory-bound kernels), and
what a 10x speed-up over the loop would leave for the whole batched step.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch

from aemap.allocator import keep_freed_memory
from aemap.attribution.layers import layer_shape, resolve_layer, trunk
from aemap.attribution.step_timing import StepTiming, time_parts
from aemap.attribution.visualise import OptimiseSettings, network_for_visualisation, visualise
from aemap.compute import cpu_has_fast_bfloat16
from aemap.models import build_model, load_checkpoint
from aemap.models.layout import uses_channels_last

SPEC = {"family": "cnn", "channels": [32, 64, 64], "kernel_size": 3, "pool": 2, "hidden": [128]}


def load(device: str):
    ckpt = Path("results/arumugam_cnn/model.pt")
    if ckpt.is_file():
        model, _ = load_checkpoint(ckpt, torch.device(device))
    else:
        torch.manual_seed(0)
        model = build_model(SPEC, (28, 28), 10).to(device)
    return model.eval(), "trained" if ckpt.is_file() else "random"


def seconds_per_vis(
    model,
    layer_name: str,
    kind: str,
    n: int,
    steps: int,
    one_at_a_time: bool,
    device: str,
    repeat: int = 1,
    memory_format: str = "auto",
    as_written: bool = False,
    precision: str = "float32",
) -> float:
    """``as_written``: the model in PyTorch's layout, with PyTorch's kernels
    and its own module order (no fast path of aemap's)."""
    layer = resolve_layer(model, layer_name)
    g = torch.Generator(device="cpu").manual_seed(0)
    shape = layer_shape(model, layer, (28, 28))
    r = torch.rand((n, *shape), generator=g).to(device)
    beta = torch.full((n,), 0.2, device=device)
    s = OptimiseSettings(steps=steps, memory_format=memory_format, precision=precision)
    if as_written:
        s = dataclasses.replace(s, memory_format="contiguous", pool_before_relu=False)
    if not one_at_a_time:  # the whole batch as one chunk (a GPU's 1024 items are 7 chunks at the default budget)
        s = dataclasses.replace(s, max_batch=max(n, s.random_block), memory_budget_mb=16384)
    visualise(model, layer, (28, 28), r[:1], beta[:1], kind, dataclasses.replace(s, steps=2))  # warm-up

    def work() -> None:
        if one_at_a_time:
            for i in range(n):
                visualise(model, layer, (28, 28), r[i : i + 1], beta[i : i + 1], kind, s)
        else:
            visualise(model, layer, (28, 28), r, beta, kind, s)

    return best_seconds(work, device, repeat) / n


def network_seconds_per_vis(model, layer_name: str, n: int, steps: int, device: str, repeat: int = 1) -> float:
    """The network alone, as the batched path runs it by default: ``steps``
    forward passes to the layer and image gradients for ``n`` images, with
    aemap's CPU layout and kernels, and nothing else (no parametrisation,
    noise, transformations or Adam). Seconds per visualisation: what the
    batch would cost if everything but the network were free, so the loop's
    time over it bounds the speed-up any batching of this network can reach."""
    layer, r, x, fast = network_inputs(model, layer_name, n, device)
    defaults = OptimiseSettings()

    def run(steps: int) -> None:
        for _ in range(steps):
            x.grad = None
            (trunk(model, layer, x) * r).sum().backward()

    with network_for_visualisation(model, layer, device, fast, defaults.pool_before_relu):
        run(1)  # warm-up
        return best_seconds(lambda: run(steps), device, repeat) / n


def network_inputs(model, layer_name: str, n: int, device: str):
    """The layer, a random attribution R of its shape and a random image batch,
    laid out as the batched path lays them out by default."""
    layer = resolve_layer(model, layer_name)
    shape = layer_shape(model, layer, (28, 28))
    g = torch.Generator(device="cpu").manual_seed(0)
    r = torch.rand((n, *shape), generator=g).to(device)
    fast = uses_channels_last(model, device, OptimiseSettings().memory_format)
    if fast and r.dim() == 4:
        r = r.to(memory_format=torch.channels_last)
    x = torch.rand((n, 1, 28, 28), generator=g).to(device)
    if fast:
        x = x.to(memory_format=torch.channels_last)
    return layer, r, x.requires_grad_(True), fast


def network_breakdown(model, layer_name: str, n: int, steps: int, device: str) -> tuple[StepTiming, float]:
    """A step of the network alone (as ``network_seconds_per_vis`` runs it),
    operation by operation; and the median step without the hooks."""
    layer, r, x, fast = network_inputs(model, layer_name, n, device)

    def objective() -> torch.Tensor:
        x.grad = None
        return (trunk(model, layer, x) * r).sum()

    with network_for_visualisation(model, layer, device, fast, OptimiseSettings().pool_before_relu):
        time_parts(model, objective, 2, device)  # warm-up
        timing = time_parts(model, objective, steps, device)
        plain = sorted(best_seconds(lambda: objective().backward(), device, 1) for _ in range(steps))
    return timing, plain[len(plain) // 2]


def print_breakdown(args: argparse.Namespace, device: str) -> None:
    model, weights = load(device)
    batch = args.gpu_batch if device == "cuda" else args.batch
    print(
        f"\nWhere a step of the network alone goes: {device}, batch {batch}, {weights} weights, "
        f"{args.threads} thread(s); median ms per step over {args.steps} steps, timed with hooks"
    )
    print("| layer | part | ms per step | share of the step | GFLOP/s |")
    print("|---|---|---|---|---|")
    budgets = []
    for layer in args.layers:
        timing, plain = network_breakdown(model, layer, batch, args.steps, device)
        rows = [(p.name, p.seconds, p.gflops_per_second) for p in timing.parts]
        rest = "the rest (functional operations' forward passes, the objective, autograd)"
        rows.append((rest, timing.rest_seconds, None))
        for name, seconds, rate in rows:
            share = seconds / timing.step_seconds
            rate_cell = "" if rate is None else f"{rate:.0f}"
            print(f"| {layer} | {name} | {seconds * 1e3:.2f} | {share:.0%} | {rate_cell} |")
        # The parts whose arithmetic is counted: the convolutions and linear layers.
        counted = sum(p.seconds for p in timing.parts if p.flops is not None)
        print(f"| {layer} | **the step** | **{timing.step_seconds * 1e3:.2f}** | 100% | |")
        print(f"| {layer} | the step without the hooks | {plain * 1e3:.2f} | | |", flush=True)
        loop_step = seconds_per_vis(model, layer, "none", args.loop, args.steps, True, device, args.repeat) / args.steps
        budgets.append((layer, loop_step, timing.step_seconds, counted))
    print(f"\nWhat a 10x speed-up over the one-item loop (no mask) leaves a batched step of {batch}:")
    print(
        "| layer | loop, ms per step | 10x: a batched step of at most | the network alone "
        "| its convolutions and linear layers |"
    )
    print("|---|---|---|---|---|")
    for layer, loop_step, step, counted in budgets:
        print(
            f"| {layer} | {loop_step * 1e3:.2f} | {loop_step * batch / 10 * 1e3:.1f} ms | {step * 1e3:.1f} ms "
            f"| {counted * 1e3:.1f} ms |"
        )


def cpu_description() -> str:
    """The CPU's vector instructions as PyTorch uses them, and whether its
    bfloat16 is native: the numbers differ by far between AVX2 and AVX-512."""
    native = {True: "native bfloat16", False: "bfloat16 emulated", None: "bfloat16 support unknown"}
    return f"({torch.backends.cpu.get_cpu_capability()}, {native[cpu_has_fast_bfloat16()]})"


def best_seconds(work, device: str, repeat: int) -> float:
    """The best of ``repeat`` timings of ``work()`` (the least disturbed by
    other work on the machine), the GPU synchronised around each."""
    best = float("inf")
    for _ in range(repeat):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        work()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--loop", type=int, default=4, help="visualisations timed one at a time")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--layers", nargs="+", default=["conv1", "conv2", "conv3"])
    parser.add_argument("--perturbations", nargs="+", default=["pyramid", "none"])
    parser.add_argument(
        "--bfloat16",
        action="store_true",
        help="also time the batched path with the network in bfloat16 (attribution.optimise.precision), "
        "against the same float32 loop",
    )
    parser.add_argument("--gpu-batch", type=int, default=1024, help="visualisations in one chunk on the GPU")
    parser.add_argument(
        "--devices",
        nargs="+",
        choices=["cpu", "cuda"],
        default=["cpu", "cuda"],
        help="where to time (cuda only where one is present; e.g. --devices cuda on a GPU machine short of time)",
    )
    parser.add_argument(
        "--hand-back-freed-memory",
        action="store_true",
        help="leave glibc's allocator as it is (the workflow's jobs keep freed memory: compute.keep_freed_memory)",
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="instead of the table: where a step of the network alone goes, operation by operation",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    # As the workflow's visualisation jobs run (the loop and the batch alike: one process).
    args.memory = "freed memory: handed back (glibc's default)" if args.hand_back_freed_memory else keep_freed_memory()
    scale = 512 / args.steps
    if args.breakdown:
        for device in args.devices:
            if device == "cpu" or torch.cuda.is_available():
                print_breakdown(args, device)
        return
    if "cpu" in args.devices:
        table(args, scale, "cpu")
    if "cuda" in args.devices and torch.cuda.is_available():
        table(args, scale, "cuda")
    elif "cuda" in args.devices:
        print("\nno CUDA device here: the GPU table needs one")


# The two batched variants timed beside the one-item loop on each device: (column, how); the
# one with no options is what aemap runs there by default, the speed-up's denominator.
VARIANTS = {
    "cpu": (("the model as written", {"as_written": True}), ("aemap's CPU defaults", {})),
    "cuda": (("default layout", {}), ("channels-last", {"memory_format": "channels_last"})),
}


# The one-item loop with aemap's defaults, and with the model as it comes.
LOOPS = {"defaults": ("", {}), "as written": (" as written", {"as_written": True})}


def table(args: argparse.Namespace, scale: float, device: str) -> None:
    model, weights = load(device)
    where = (
        f"GPU {torch.cuda.get_device_name()}"
        if device == "cuda"
        else f"CPU {cpu_description()}, {args.threads} thread(s)"
    )
    batch = args.gpu_batch if device == "cuda" else args.batch
    print(
        f"\n{where}, torch {torch.__version__}, {weights} weights, {args.memory}; "
        f"seconds per visualisation of 512 steps (measured over {args.steps})"
    )
    variants = VARIANTS[device] + ((("bfloat16", {"precision": "bfloat16"}),) if args.bfloat16 else ())
    labels = [f"batched (batch {batch}), {label}" for label, _ in variants]
    fast = ["aemap's defaults"] + (["bfloat16"] if args.bfloat16 else [])
    speedups = [f"speed-up of {f} over the loop{LOOPS[loop][0]}" for loop in LOOPS for f in fast]
    loops = [f"one at a time{LOOPS[loop][0]}" for loop in LOOPS]
    bound = [f"batch {batch}, the network alone", "bound: the loop over the network alone"]
    print(f"| layer | perturbation | {' | '.join(loops + labels + speedups + bound)} |")
    print("|---|---|" + "---|" * (len(loops) + len(labels) + len(speedups) + len(bound)))
    network: dict[str, float] = {}  # per layer: the same for every perturbation
    for layer in args.layers:
        for kind in args.perturbations:
            run = (model, layer, kind)
            looped = [
                seconds_per_vis(*run, args.loop, args.steps, True, device, args.repeat, **how) * scale
                for _, how in LOOPS.values()
            ]
            batched = [
                seconds_per_vis(*run, batch, args.steps, False, device, args.repeat, **how) * scale
                for _, how in variants
            ]
            fastest = [batched[[how for _, how in variants].index({})]] + batched[len(VARIANTS[device]) :]
            cells = [f"{t:.3f} s" for t in looped] + [f"{t:.5f} s" for t in batched]
            cells += [f"{loop / t:.1f}x" for loop in looped for t in fastest]
            if layer not in network:
                network[layer] = network_seconds_per_vis(model, layer, batch, args.steps, device, args.repeat) * scale
            cells += [f"{network[layer]:.5f} s", f"{looped[0] / network[layer]:.1f}x"]
            print(f"| {layer} | {kind} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
