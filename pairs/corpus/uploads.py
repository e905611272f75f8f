"""Corpus uploads: the size-limited upload handler, storing files, unpacking dataset zips."""

from __future__ import annotations

import logging
import shutil
import uuid
import zipfile
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _

from pairs.models import CorpusImport, ImportFormat

from . import readers

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20


def upload_max_bytes() -> int:
    """The largest upload accepted, in bytes."""
    return int(getattr(settings, "WEAVER_CORPUS_UPLOAD_MAX_BYTES", 2 * 1024**3))


def text_max_chars() -> int:
    """The longest text accepted, in characters."""
    return int(getattr(settings, "WEAVER_CORPUS_TEXT_MAX_CHARS", 200_000))


def imports_dir() -> Path:
    """Where uploads are stored: ``DATA_DIR/imports/``."""
    return Path(settings.DATA_DIR) / "imports"


def _too_large_message(limit: int) -> str:
    return _("The file is larger than the upload limit of %(limit)s bytes (%(mib).1f MiB).") % {
        "limit": limit,
        "mib": limit / 1024**2,
    }


# --- Upload ---------------------------------------------------------------------------------
class LimitedUploadHandler(FileUploadHandler):
    """Refuses a request body over ``WEAVER_CORPUS_UPLOAD_MAX_BYTES`` before it is stored.

    Put it first: ``request.upload_handlers.insert(0, LimitedUploadHandler(request))`` in a
    ``csrf_exempt`` view that then applies ``csrf_protect`` (Django's documented pattern), before
    ``request.POST``/``request.FILES`` are read. A declared ``Content-Length`` over the limit is
    refused without reading the body; otherwise the bytes are counted as they arrive and the
    upload is stopped (the connection reset) as soon as they pass the limit, so the handlers
    after this one never see the rest. Either way ``request.upload_over_limit`` is set to the
    limit and ``request.FILES`` holds no file; the view answers with ``_too_large_message``.
    """

    def __init__(self, request=None, limit: int | None = None) -> None:
        super().__init__(request)
        self.limit = upload_max_bytes() if limit is None else limit
        self.received = 0

    def _refuse(self) -> None:
        if self.request is not None:
            self.request.upload_over_limit = self.limit

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        """Answer for the whole request, with no data, when the declared length is too big."""
        if content_length and content_length > self.limit:
            from django.http import QueryDict
            from django.utils.datastructures import MultiValueDict

            self._refuse()
            return QueryDict(encoding=encoding), MultiValueDict()
        return None

    def new_file(self, *args, **kwargs) -> None:
        """Refuse at once when the request already announced too many bytes."""
        super().new_file(*args, **kwargs)
        if self.content_length and self.content_length > self.limit:
            self._refuse()
            raise StopUpload(connection_reset=True)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        """Count the bytes; stop the upload as soon as they pass the limit."""
        self.received += len(raw_data)
        if self.received > self.limit:
            self._refuse()
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        """Leave the file to the next handler."""
        return None


def _safe_name(name: str) -> str:
    base = Path(str(name).replace("\\", "/")).name
    try:
        safe = get_valid_filename(base)
    except Exception:  # noqa: BLE001 - Django raises SuspiciousFileOperation for "" and ".."
        safe = ""
    return (safe or "upload")[:200]


def _unpack_hf_zip(archive: Path, folder: Path, limit: int) -> Path:
    """Unpack a zip of a saved dataset into ``folder`` (no path leaves it; the unpacked size
    is capped at 4 times the upload limit); return the dataset's root folder."""
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise ValidationError({"uploaded_file": _("This is not a zip file.")}) from exc
    with zf:
        members = zf.infolist()
        if sum(m.file_size for m in members) > 4 * limit:
            raise ValidationError({"uploaded_file": _("The unpacked dataset is too large.")})
        root = folder.resolve()
        for member in members:
            target = (folder / member.filename).resolve()
            if root != target and root not in target.parents:
                raise ValidationError(
                    {"uploaded_file": _("The zip holds a path outside its folder.")}
                )
            if member.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK_BYTES)
    try:
        return readers.hf_dataset_root(folder)
    except readers.ReaderError as exc:
        raise ValidationError(
            {
                "uploaded_file": _(
                    "The zip holds no dataset saved with save_to_disk "
                    "(no state.json or dataset_dict.json)."
                )
            }
        ) from exc


def corpus_import_create(*, uploaded_file, format: str, name: str, created_by) -> CorpusImport:
    """Store an upload under ``DATA_DIR/imports/<uuid>/`` chunk by chunk and record it.

    Refuses a file over ``WEAVER_CORPUS_UPLOAD_MAX_BYTES`` (by its declared size first, then
    by the bytes actually written) and removes whatever was written. A Hugging Face dataset
    arrives as a zip of the ``save_to_disk`` folder and is unpacked; ``path`` is then the
    dataset's folder.
    """
    if format not in ImportFormat.values:
        raise ValidationError({"format": _("Unknown format: %(format)s") % {"format": format}})
    limit = upload_max_bytes()
    if uploaded_file.size is not None and uploaded_file.size > limit:
        raise ValidationError({"uploaded_file": _too_large_message(limit)})
    original = str(getattr(uploaded_file, "name", "") or "upload")
    folder = imports_dir() / uuid.uuid4().hex
    folder.mkdir(parents=True)
    target = folder / _safe_name(original)
    written = 0
    try:
        with open(target, "wb") as out:
            for chunk in uploaded_file.chunks(CHUNK_BYTES):
                written += len(chunk)
                if written > limit:
                    raise ValidationError({"uploaded_file": _too_large_message(limit)})
                out.write(chunk)
        path = target
        if format == ImportFormat.HF_DISK:
            path = _unpack_hf_zip(target, folder / "dataset", limit)
            target.unlink()
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return CorpusImport.objects.create(
        name=(name or original)[:200],
        format=format,
        path=str(path),
        original_name=original[:255],
        size_bytes=written,
        created_by=created_by,
    )


# --- Mapping --------------------------------------------------------------------------------
