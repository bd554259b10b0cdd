"""`xiulian recipe run`: every stage from crawl to chat model, from one TOML file; and `xiulian
ablate`: which cleaning config makes the better model."""
from __future__ import annotations

from .recipe import STAGES


def add_parsers(sub, command) -> None:
    p = command(sub, "recipe", "Run a recipe: clean the crawl, train the tokenizer, pretrain, SFT (full and "
                "LoRA), reward model, DPO, PPO, evaluate -> OUT/RESULTS.md. Each stage is printed as the "
                "xiulian command it runs; run it again to resume.",
                "xiulian recipe run data/recipes/tiny.toml -o runs/tiny")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    r = command(actions, "run", "Run (or resume) every stage of RECIPE.toml into OUT, then write "
                "OUT/RESULTS.md with the figures and numbers of each stage.",
                "xiulian recipe run data/recipes/small.toml -o runs/small --only pretrain sft")
    r.add_argument("recipe", metavar="RECIPE.toml")
    r.add_argument("-o", "--output", required=True, metavar="OUT", help="folder for every stage's output")
    r.add_argument("--only", nargs="+", choices=STAGES, metavar="STAGE",
                   help=f"run only these stages (of {', '.join(STAGES)})")
    r.set_defaults(run=_run)
    _add_ablate(sub, command)


def _run(args) -> int:
    from .recipe import run_recipe
    page = run_recipe(args.recipe, args.output, args.only)
    print(f"results: {page}" if page else "done (no [evaluate] stage ran, so no RESULTS.md was written)")
    return 0


def _add_ablate(sub, command) -> None:
    p = command(sub, "ablate", "Data ablation: clean the same inputs with each variant config of "
                "VARIANTS.toml (no filters, the default, without dedup, source weights, ...), train one "
                "proxy model per variant and seed on the same token budget, score each on held-out text "
                "no variant trained on and on benchmark tasks; write OUT/ABLATION.md (means with 95% "
                "intervals, n-gram floors beside them) and a plot of held-out loss against tokens. "
                "Variants and seeds run as tasks on the executor; run it again to resume.",
                "xiulian ablate data/ablations/cleaning.toml -o runs/ablation\n"
                "  xiulian ablate data/ablations/tiny.toml -o runs/ablation-tiny --workers 2 --executor ray")
    p.add_argument("variants", metavar="VARIANTS.toml")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="folder for every variant's output")
    p.add_argument("--workers", type=int, help="tasks at a time (default: [ablation] workers, or 1)")
    p.add_argument("--executor", choices=("local", "ray"), help="local processes (default) or Ray")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(run=_run_ablate)


def _run_ablate(args) -> int:
    from .ablation import run_ablation
    page = run_ablation(args.variants, args.output, args.workers, args.executor, not args.quiet)
    print(f"results: {page}")
    return 0
