"""daphne's access log, written through Python logging like every other line.

daphne writes its access lines (one per request, three per socket: WSCONNECTING, WSCONNECT,
WSDISCONNECT) straight to stdout in its own text format, which no log configuration reaches:
under LOG_FORMAT=json they would be the only lines that are not JSON. Here each is a record of
the `relayman.access` logger at INFO, its parts also as fields of the record (`client`,
`request`, `status`, `bytes`), so the JSON formatter writes them as fields of their own.

An access log daphne is told to write to a file (`--access-log PATH`) stays daphne's own.
"""

import logging
import sys

from daphne.access import AccessLogGenerator

logger = logging.getLogger("relayman.access")


class AccessLog(AccessLogGenerator):
    """daphne's access log generator, each entry a log record instead of a line on a stream."""

    def __init__(self):
        super().__init__(stream=None)

    def write_entry(self, host, date, request, status=None, length=None, ident=None, user=None):
        logger.info(
            '%s - - "%s" %s %s',
            host,
            request,
            status or "-",
            length or "-",
            extra={"client": host, "request": request, "status": status, "bytes": length},
        )


def through_logging(action_logger):
    """The action logger to serve with: daphne's stdout access log becomes `AccessLog`."""
    if isinstance(action_logger, AccessLogGenerator) and action_logger.stream is sys.stdout:
        return AccessLog()
    return action_logger
