"""ingress-nginx's admission rules that decide whether a stock controller accepts an Ingress.

Both are restated from ingress-nginx's source (kubernetes/ingress-nginx), so the tests check our
Ingresses the way the controller's admission webhook does.
"""

from __future__ import annotations

import re

# internal/ingress/inspector/rules.go, `validPathType`, as of controller v1.12 (PR #9967; enforced
# by `strict-validate-path-type`, default true from v1.12): `(?i)^/[[:alnum:]\_\-/]*$`.
# PR #13798 later added '.', so the rule here is the stricter one every v1.12+ controller applies.
# internal/ingress/inspector/inspector.go, `ValidatePathType`, skips `ImplementationSpecific` paths.
VALID_PATH = re.compile(r"^/[A-Za-z0-9_\-/]*$")
CHECKED_PATH_TYPES = ("Prefix", "Exact")

LOW, MEDIUM, HIGH, CRITICAL = 0, 1, 2, 3
# internal/ingress/annotations/parser/validators.go: AnnotationRiskLow..Critical; the controller
# refuses annotations above `annotations-risk-level`, which defaults to High. Risks from:
RISK = {
    # internal/ingress/annotations/proxy/main.go
    "proxy-body-size": MEDIUM,
    # internal/ingress/annotations/auth/main.go
    "auth-type": LOW,
    "auth-secret": MEDIUM,
    "auth-realm": MEDIUM,
    # internal/ingress/annotations/canary/main.go
    "canary": LOW,
    "canary-weight": LOW,
    "canary-weight-total": LOW,
    # internal/ingress/annotations/snippet/main.go
    "configuration-snippet": CRITICAL,
}
# Values are validated too (parser/validators.go): alphaNumericChars = `\-\.\_\~a-zA-Z0-9\/:`.
_ALNUM = r"\-\._~a-zA-Z0-9/:"
VALUE_RULES = {
    "proxy-body-size": re.compile(r"(?i)^\d+[bkmg]?$"),  # SizeRegex
    "auth-type": re.compile(r"basic|digest"),  # authTypeRegex
    "auth-secret": re.compile(rf"^[/{_ALNUM}]*$"),  # BasicCharsRegex
    "auth-realm": re.compile(rf"^[/{_ALNUM} ]*$"),  # CharsWithSpace
}


def path_problems(path: str, path_type: str) -> list[str]:
    if path_type in CHECKED_PATH_TYPES and not VALID_PATH.match(path):
        return [f"path {path} cannot be used with pathType {path_type}"]
    return []


def annotation_problems(annotations: dict[str, str], max_risk: int = MEDIUM) -> list[str]:
    problems = []
    for key, value in annotations.items():
        name = key.removeprefix("nginx.ingress.kubernetes.io/")
        if name not in RISK:
            problems.append(f"{key}: not in the risk table restated here; look it up and add it")
            continue
        if RISK[name] > max_risk:
            problems.append(f"{key}: risk {RISK[name]} is above {max_risk}")
        rule = VALUE_RULES.get(name)
        if rule and not rule.match(value.replace(" ", "") if name != "auth-realm" else value):
            problems.append(f"{key}: value {value!r} fails the controller's validator")
    return problems
