"""Regenerate docs/settings.md from the settings model: ``python docs/gen_settings.py``."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from kasoku.config import DatasetPolicySettings, LimitSettings, ListeningSettings, ListeningUserSettings, S3Settings, Settings, SpotifySettings  # noqa: E402


def render() -> str:
    lines = ["# Settings", "",
             "One typed settings model (`src/kasoku/config.py`). Sources, highest first: command-line",
             "options, environment variables `KASOKU_<NAME>` (nested: `KASOKU_S3__ENDPOINT`), a `kasoku.toml`",
             "(path from `KASOKU_CONFIG`, else `./kasoku.toml`), then these defaults. Unknown keys are errors.",
             "Regenerate this page with `python docs/gen_settings.py`.", "",
             "| setting | default | what it is |", "|---|---|---|"]
    for name, f in Settings.model_fields.items():
        default = f.default if f.default_factory is None else "(see below)"
        lines.append(f"| `{name}` | `{default}` | {f.description} |")
    for title, model, prefix in [("S3 (`s3.*`, env `KASOKU_S3__*`)", S3Settings, "s3"),
                                 ("Spotify collector (`spotify.*`, env `KASOKU_SPOTIFY__*`)", SpotifySettings, "spotify"),
                                 ("Limits (`limits.*`, env `KASOKU_LIMITS__*`; docs/security.md)", LimitSettings, "limits"),
                                 ("Per-dataset policy (`policies.<dataset>.*`)", DatasetPolicySettings, "policies.<dataset>"),
                                 ("Listening (`listening.*`, env `KASOKU_LISTENING__*`)", ListeningSettings, "listening"),
                                 ("Per listener (`listening.users.<user_id>.*`)", ListeningUserSettings, "listening.users.<user_id>")]:
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
