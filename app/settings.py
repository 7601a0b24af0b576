"""Service settings (pydantic-settings, prefix HEARTH_); every field is described for the README."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything an operator can set, from the environment (HEARTH_*) or a `.env` file."""

    model_config = SettingsConfigDict(env_prefix="HEARTH_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Folder holding the store and vector files.")
    embedder_path: str | None = Field(
        None, description="Local sentence-transformers folder; default: bundled all-MiniLM-L6-v2."
    )
    host: str = Field("127.0.0.1", description="Address `hearth serve` binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port `hearth serve` listens on.")
    top_k: int = Field(5, ge=1, le=50, description="Passages returned by a search by default.")
