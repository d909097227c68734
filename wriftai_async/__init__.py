"""wriftai_async: an async-first, typed, fast client for the WriftAI API.

Example::

    import asyncio
    from wriftai_async import AsyncClient

    async def main() -> None:
        async with AsyncClient() as client:  # token from WRIFTAI_ACCESS_TOKEN
            async for model in client.models.list_for_user("alice"):
                print(model.name, model.predictions_count)

    asyncio.run(main())
"""

from ._bulk import BulkResult
from ._client import AsyncClient
from ._converter import structure, unstructure
from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ListingLimitError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    SourceChangedError,
    StreamInterruptedError,
    ValidationError,
    WaitTimeoutError,
    WriftAIError,
)
from ._file import File
from ._objects import (
    TERMINAL_STATUSES,
    Category,
    Hardware,
    Model,
    ModelDetails,
    ModelVersion,
    ModelVersionDetails,
    Page,
    Prediction,
    PredictionDetails,
    PredictionError,
    PredictionModel,
    PredictionStatus,
    SortBy,
    SortDirection,
    StreamEvent,
    Upload,
    UploadCompletion,
    User,
    Variable,
    VersionConfiguration,
    Visibility,
)
from ._params import UNSET, UnsetType
from ._resources._streaming import AsyncEventStream, EventStream
from ._retry import RetryPolicy
from ._session import AsyncSession
from ._sync import Client
from ._version import __version__
from .webhooks import WebhookVerificationError

__all__ = [
    "TERMINAL_STATUSES",
    "UNSET",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AsyncEventStream",
    "AsyncSession",
    "AuthenticationError",
    "BadRequestError",
    "BulkResult",
    "Category",
    "Client",
    "ConflictError",
    "EventStream",
    "File",
    "Hardware",
    "ListingLimitError",
    "Model",
    "ModelDetails",
    "ModelVersion",
    "ModelVersionDetails",
    "NotFoundError",
    "Page",
    "PermissionDeniedError",
    "Prediction",
    "PredictionDetails",
    "PredictionError",
    "PredictionModel",
    "PredictionStatus",
    "RateLimitError",
    "ResponseDecodeError",
    "RetryPolicy",
    "ServerError",
    "SortBy",
    "SortDirection",
    "SourceChangedError",
    "StreamEvent",
    "StreamInterruptedError",
    "UnsetType",
    "Upload",
    "UploadCompletion",
    "User",
    "ValidationError",
    "Variable",
    "VersionConfiguration",
    "Visibility",
    "WaitTimeoutError",
    "WebhookVerificationError",
    "WriftAIError",
    "__version__",
    "structure",
    "unstructure",
]
