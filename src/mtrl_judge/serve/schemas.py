"""Request and response bodies of the judge service (pydantic; they make the OpenAPI docs)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class JudgeItem(BaseModel):
    """One thing to judge. Images are base64 strings (or `data:image/...;base64,` URLs), never URLs to fetch."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"task": "seetrue", "text": "a red circle", "images": ["iVBORw0KGgo..."]}]}
    )

    task: str = Field(description="task name, see GET /v1/tasks")
    text: str | None = Field(default=None, description="the text to judge the image(s) against, for tasks that use one")
    images: list[str] = Field(description="one image (pointwise tasks) or two (pairwise), base64 encoded")
    id: str | None = Field(default=None, description="optional; echoed back in batch results")


class BatchIn(BaseModel):
    """Many items; each is validated and judged on its own, so a bad item fails only itself."""

    items: list[JudgeItem]


class VerdictOut(BaseModel):
    """A verdict. `choice` is None when the model's answer could not be parsed (then `valid` is false)."""

    task: str
    choice: str | None = Field(description="one of the task's choices: yes/no (pointwise) or 1/2 (pairwise)")
    score: float | None = Field(default=None, description="P(positive choice) at the answer position: yes, or image 1 better")
    valid: bool = Field(description="the completion is well formed: one think block, then one answer block with a valid choice")
    reasoning: str = Field(description="the text of the think block")
    completion: str = Field(description="the raw generated text")
    model: str
    latency_ms: float = Field(description="time from receiving the request to the verdict, in the server")


class ErrorOut(BaseModel):
    detail: str


class BatchItemOut(BaseModel):
    index: int = Field(description="position of the item in the request")
    id: str | None = None
    ok: bool
    result: VerdictOut | None = None
    status: int = Field(description="HTTP status this item alone would have had")
    error: str | None = Field(default=None, description="why the item failed")


class BatchOut(BaseModel):
    results: list[BatchItemOut]
    n_ok: int
    n_failed: int
    model: str
    latency_ms: float


class TaskOut(BaseModel):
    name: str
    capability: str
    format: str
    question: str
    criterion: str
    uses_text: bool
    source: str
    choices: list[str]
    num_images: int


class TasksOut(BaseModel):
    tasks: list[TaskOut]


class HealthOut(BaseModel):
    status: str = Field(description="ok (200), or unavailable (503): starting, shutting down, or the worker is stuck")
    model: str
    queue_depth: int
    worker: str = Field(description="idle, busy, stuck (its batch ran over batch_timeout_s) or stopped")
    batch_seconds: float | None = Field(default=None, description="seconds the model has spent in its current batch")
