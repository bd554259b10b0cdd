"""`xiulian recipe run`: every stage from crawl to chat model, from one TOML file."""
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


def _run(args) -> int:
    from .recipe import run_recipe
    page = run_recipe(args.recipe, args.output, args.only)
    print(f"results: {page}")
    return 0
