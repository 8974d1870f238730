"""Decoder files: what compiling and loading them costs, and that a file's decoder decodes as fast as its
built-in twin.

    .venv/bin/python bench/decoder_files.py [--files 200] [--passes 2000] [--repeat 5]

Prints the compile time of each example file, the time to load (and reload) a folder of --files copies,
and the time per telegram of decode_reading over the vectors the examples claim, with the built-in
decoders and with the example files in their place (best of --repeat alternating timed runs, CPU time).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.decoders import REGISTRY, clear_caches
from gateway.decoders.decoder_file import parse_decoder
from gateway.decoders.folder import DecoderFolder
from gateway.decoders.registry import DecoderRegistry
from gateway.wmbus.telegram import Telegram
from tests.vectors import parsed_vectors

EXAMPLES = Path(__file__).resolve().parents[1] / "gateway" / "decoders" / "examples"
TWINS = {"minomess.toml": "minomess", "kadenwater.toml": "ecomess"}
AT = datetime(2026, 1, 1, tzinfo=UTC)


def best_cpu_s(action: Callable[[], object], repeat: int) -> float:
    """The fastest of ``repeat`` runs, CPU seconds (other processes only slow a run down)."""
    best = float("inf")
    for _ in range(repeat):
        began = time.process_time()
        action()
        best = min(best, time.process_time() - began)
    return best


def builtin_registry() -> DecoderRegistry:
    registry = DecoderRegistry(REGISTRY.fallback)
    for decoder in REGISTRY.builtin[1:]:
        registry.register(decoder)
    return registry


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=200, help="decoder files in the folder loaded")
    parser.add_argument("--passes", type=int, default=2000, help="passes over the claimed vectors")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs; the best is printed")
    args = parser.parse_args()

    taken = REGISTRY.builtin_names()
    count = 500
    for name in sorted(TWINS):
        text = (EXAMPLES / name).read_text()

        def compile_all(text: str = text) -> None:
            for _ in range(count):
                parse_decoder(text, taken=taken)

        seconds = best_cpu_s(compile_all, 3)
        print(f"compile {name}: {seconds / count * 1e6:,.0f} us")

    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        template = (EXAMPLES / "minomess.toml").read_text()
        for n in range(args.files):
            # distinct names and makers, so that each file is loaded and none clashes
            maker = "".join(chr(ord("A") + (n // 26**k) % 26) for k in (2, 1, 0))
            text = template.replace('"example-minomess"', f'"file-{n}"').replace('"ZRI"', f'"{maker}"')
            (folder / f"{n:04d}.toml").write_text(text)
        loader = DecoderFolder(builtin_registry())
        began = time.perf_counter()
        report = loader.load(folder)
        first = time.perf_counter() - began
        assert len(report.loaded) == args.files and not report.refused, report.summary()[:300]
        again = best_cpu_s(lambda: loader.load(folder), args.repeat)
        print(
            f"load a folder of {args.files} files: {first * 1000:,.1f} ms (wall), "
            f"reload {again * 1000:,.1f} ms (CPU)"
        )

    with_files = builtin_registry()
    with_files.replace_added(
        [parse_decoder((EXAMPLES / name).read_text(), taken=taken) for name in sorted(TWINS)]
    )
    builtins = {REGISTRY.named(name) for name in TWINS.values()}
    telegrams: list[tuple[Telegram, bytes | None]] = [
        (telegram, vector.key) for vector, telegram in parsed_vectors() if REGISTRY.find(telegram) in builtins
    ]
    assert all(with_files.find(t).name.startswith("example-") for t, _ in telegrams)
    clear_caches()
    best: dict[str, float] = {}
    for _ in range(args.repeat):  # the two alternate, so that a slow spell of the machine hits both
        for label, registry in (("built-in", builtin_registry()), ("decoder files", with_files)):
            decode = registry.decode
            for telegram, key in telegrams:  # warm: plans and recipes found once per payload structure
                decode(telegram, AT, key=key)
            began = time.process_time()
            for _ in range(args.passes):
                for telegram, key in telegrams:
                    decode(telegram, AT, key=key)
            best[label] = min(best.get(label, float("inf")), time.process_time() - began)
    for label, seconds in best.items():
        per = seconds / (args.passes * len(telegrams)) * 1e6
        what = f"{len(telegrams)} claimed vectors x {args.passes}"
        print(f"decode_reading, {what}, {label}: {per:.2f} us a telegram")


if __name__ == "__main__":
    main()
