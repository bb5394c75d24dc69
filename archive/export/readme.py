"""The README a stranger reads first: what the package holds and how to check it with standard tools."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from archive.export.profiles import SHARED_PROFILES, Profile

__all__ = ["readme_text"]

TEMPLATE = """\
EVIDENCE PACKAGE {transfer_id}
{rule}

Made by the investigation verification workbench (wb) on {at} (UTC).
Profile: {profile}. Recipient type: {recipient_type}. Items included: {included}; withheld: {withheld}.
The recipient, the purpose and the reasons for every withheld item are in data/manifest.json.
{shared}
This folder is a BagIt bag (RFC 8493). Nothing in it needs our software to be read or checked.

WHAT IS INSIDE
  data/items/<id>/original/     each original file, byte for byte, named by its SHA-256
  data/items/<id>/files/        screenshots, web archives (WACZ), HTML, metadata sidecars, derived copies
  data/items/<id>/record.json   capture records, sightings, judgements (every review, disputes included),
                                automated indicators with their explanations, tags, notes, consent records
  data/items.csv, items.json    one row per item in court-style fields (schema in data/schema/)
  data/custody/events.jsonl     the chain-of-custody events of these items, as stored
  data/custody/proofs.json      a Merkle inclusion proof (RFC 6962) for each event
  data/custody/checkpoint.json  the log's signed checkpoint (tree size, root hash, time, Ed25519 signature)
  data/custody/public_key.pem   the installation's public key (key id {key_id})
  data/custody/timestamps/      trusted timestamps (RFC 3161) over checkpoints, when there are (step 4)
  data/report.pdf               the report for people; its SHA-256 is recorded in our custody log
  data/confidence-scale.json    what each confidence level means

HOW TO CHECK IT
1. Every file against its recorded hash (GNU coreutils), from this folder:
       sha256sum -c manifest-sha256.txt
       sha256sum -c tagmanifest-sha256.txt
   Every line must end in "OK".
2. The bag as a whole (bagit-python, https://github.com/LibraryOfCongress/bagit-python):
       bagit.py --validate .
   Do not use --fast: it compares only sizes and file counts and misses a changed byte.
3. The custody proofs and the signature (the workbench's verifier, no database needed):
       wb verify-package .
   It re-hashes every file, recomputes each custody event's hash, checks each event's inclusion proof
   against the signed checkpoint and the checkpoint's signature, and names anything that is wrong.
   To be sure the key is ours and not a substitute, compare its key id ({key_id}) with the one we
   gave you by another channel: wb verify-package . --key-id {key_id}

{timestamps}

A file name is the SHA-256 of the file's content. An item's original hash appears in its first
custody event ("item.ingested"), recorded when the file entered the archive.
"""


SHARED = """
What this profile leaves out: each item travels as a copy without its metadata (GPS, device serials)
or as its redacted copy, and its original's SHA-256 is listed beside it. Fields that could name a
person read "(withheld)": account names (the custody events' actors, reviewers, authors), item titles
(often a file name or page title), source addresses and handles (sightings' URL, account, display
name and post id; captures' requested and final URL), file names and device labels from people's
machines, consent pseudonyms. Capture records keep only how the page was captured (times, tool,
browser, status, this item's files) and list the names of the fields left out ("withheld_fields").
Notes, translations, assignments and earlier transfers are not included.{public}
"""
PUBLIC = " Judgements keep their status, confidence and time, not their rationale."


TIMESTAMPS = """\
4. Trusted timestamps (RFC 3161), with OpenSSL alone. Each folder data/custody/timestamps/<N>/ holds a
   token from an outside time-stamping authority over the checkpoint of the custody log's first N
   events. In that folder:
       openssl ts -verify -data checkpoint.data -in checkpoint.tsr -CAfile tsa-chain.pem
   must print "Verification: OK". It proves checkpoint.data (tree size, Merkle root, signing time)
   existed no later than the token's time (openssl ts -reply -in checkpoint.tsr -text shows it).
   checkpoint.json holds an inclusion proof for each of this package's events among those N, which
   wb verify-package checks. Compare the authority's certificate in tsa-chain.pem with the one the
   authority publishes: a chain made up by someone else would verify too.
   Folders here: {folders}."""
NO_TIMESTAMPS = """\
4. Trusted timestamps: none in this package (no time-stamping authority was configured, or it had not
   answered when the package was made)."""


def readme_text(manifest: Mapping[str, Any], key_id: str, stamped: Sequence[int] = ()) -> str:
    """The README; ``stamped`` lists the tree sizes of the package's trusted timestamps."""
    title = f"{manifest['transfer_id']}"
    folders = ", ".join(f"data/custody/timestamps/{n}/" for n in stamped)
    return TEMPLATE.format(
        transfer_id=title,
        rule="=" * (len("EVIDENCE PACKAGE ") + len(title)),
        at=manifest["at"],
        profile=manifest["profile"],
        recipient_type=manifest["recipient_type"],
        included=len(manifest["items"]),
        withheld=len(manifest.get("withheld", [])),
        key_id=key_id,
        timestamps=TIMESTAMPS.format(folders=folders) if stamped else NO_TIMESTAMPS,
        shared=_shared(str(manifest["profile"])),
    )


def _shared(profile: str) -> str:
    """What a partner or public package leaves out (``profiles.shared_record``); nothing for internal."""
    if profile not in SHARED_PROFILES:
        return ""
    return SHARED.format(public=PUBLIC if profile == Profile.PUBLIC else "")
