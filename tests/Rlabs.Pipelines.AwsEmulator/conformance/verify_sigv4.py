"""Recomputes the SigV4 signature of captured requests with botocore's own signer (botocore.auth.SigV4Auth)
and compares it with the signature the sender put in the Authorization header.

stdin: JSON list of {"endpoint", "method", "rawTarget", "headers", "bodyBase64", "accessKey", "secretKey", "sessionToken"}
stdout: JSON {"checked": N, "mismatches": [...]}; exit 1 on any mismatch.
"""
import base64
import json
import re
import sys

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})")

requests = json.load(sys.stdin)
mismatches = []
for item in requests:
    headers = {k.lower(): v for k, v in item["headers"].items()}
    match = AUTH.fullmatch(headers.get("authorization", ""))
    if not match:
        mismatches.append(f"{item['method']} {item['rawTarget']}: no SigV4 Authorization header")
        continue
    access_key, _, region, service, signed_headers, signature = match.groups()
    signed = signed_headers.split(";")
    # Only the headers the sender signed take part; host comes from the URL as botocore derives it.
    request = AWSRequest(method=item["method"], url=item["endpoint"].rstrip("/") + item["rawTarget"],
                         data=base64.b64decode(item["bodyBase64"]),
                         headers={name: headers[name] for name in signed if name != "host"})
    request.context["timestamp"] = headers["x-amz-date"]
    auth = SigV4Auth(Credentials(access_key, item["secretKey"], item.get("sessionToken")), service, region)
    canonical = auth.canonical_request(request)
    expected = auth.signature(auth.string_to_sign(request, canonical), request)
    if expected != signature:
        mismatches.append(f"{item['method']} {item['rawTarget']} ({service}): signature {signature} but botocore computes {expected}\n{canonical}")
    if access_key != item["accessKey"]:
        mismatches.append(f"{item['rawTarget']}: signed with access key {access_key}, expected {item['accessKey']}")

print(json.dumps({"checked": len(requests), "mismatches": mismatches}))
sys.exit(1 if mismatches else 0)
