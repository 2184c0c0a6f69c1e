"""Regenerate docs/settings.md from the settings model: ``python docs/gen_settings.py``."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pydantic import BaseModel  # noqa: E402

from kasoku.config import DatasetPolicySettings, LimitSettings, S3Settings, Settings  # noqa: E402
from kasoku.domains import settings_sections  # noqa: E402


def _nested(prefix: str, model: type[BaseModel]) -> list[tuple[str, type[BaseModel], str]]:
    """A section and the models it holds per key (``dict[str, Model]`` fields), depth first."""
    found = [(f"`{prefix}.*`", model, prefix)]
    for name, f in model.model_fields.items():
        args = getattr(f.annotation, "__args__", ())
        if len(args) == 2 and isinstance(args[1], type) and issubclass(args[1], BaseModel):
            found += _nested(f"{prefix}.{name}.<id>", args[1])
    return found


def render() -> str:
    lines = ["# Settings", "",
             "One typed settings model: the core in `src/kasoku/config.py`, plus the sections each domain",
             "contributes (`src/kasoku/domains/<domain>/settings.py`, `SECTIONS`). Sources, highest first: command-line",
             "options, environment variables `KASOKU_<NAME>` (nested: `KASOKU_S3__ENDPOINT`), a `kasoku.toml`",
             "(path from `KASOKU_CONFIG`, else `./kasoku.toml`), then these defaults. Unknown keys are errors.",
             "Regenerate this page with `python docs/gen_settings.py`.", "",
             "| setting | default | what it is |", "|---|---|---|"]
    for name, f in Settings.model_fields.items():
        default = f.default if f.default_factory is None else "(see below)"
        lines.append(f"| `{name}` | `{default}` | {f.description} |")
    core = [("S3 (`s3.*`, env `KASOKU_S3__*`)", S3Settings, "s3"),
            ("Limits (`limits.*`, env `KASOKU_LIMITS__*`; docs/security.md)", LimitSettings, "limits"),
            ("Per-dataset policy (`policies.<dataset>.*`)", DatasetPolicySettings, "policies.<dataset>")]
    # Each domain's own sections (kasoku.domains.*.settings.SECTIONS), found as config finds them.
    contributed = [(f"{(model.__doc__ or name).strip().splitlines()[0]} ({shown}"
                    + (f", env `KASOKU_{name.upper()}__*`)" if prefix == name else ")"), model, prefix)
                   for name, section in settings_sections().items() for shown, model, prefix in _nested(name, section)]
    for title, model, prefix in core + contributed:
        lines += ["", f"## {title}", "", "| setting | default | what it is |", "|---|---|---|"]
        for name, f in model.model_fields.items():
            default = f.default if f.default_factory is None else "{}"
            lines.append(f"| `{prefix}.{name}` | `{default}` | {f.description} |")
    lines += ["", "Example `kasoku.toml`:", "", "```toml", 'lake = "s3://my-bucket/kasoku"',
              'redis_url = "redis://127.0.0.1:6379/0"', "", "[s3]", 'endpoint = "<account>.r2.cloudflarestorage.com"',
              'region = "auto"', "", "[policies.listening]", "ttl_l1 = 3600", "",
              "[listening]", 'tz = "Europe/Berlin"', "", "[listening.users.me]", 'tz = "Asia/Tokyo"', "min_ms = 30000",
              "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    (Path(__file__).parent / "settings.md").write_text(render())
