"""Policy validation: every error names the key path; keys are references, loaded (or refused) at load time."""
import json

import pytest

from pipelines.pii import MissingKeyError, PolicyError, builtin_policy, load_policy, parse_policy
from pipelines.pii.actions import Hash, Partial, Redact, Tokenize

ENV = {"HMAC_KEY": "ab" * 32, "FPE_KEY": "cd" * 16}
KEYS = {"hmac": {"env": "HMAC_KEY"}, "fpe": {"env": "FPE_KEY"}}


def policy(fields=None, **top):
    return {"keys": KEYS, "fields": fields if fields is not None else {"ssn": {"entity": "US_SSN",
                                                                              "action": "redact"}}, **top}


@pytest.mark.parametrize(("spec", "path", "reason"), [
    (policy({"ssn": {"entity": "US_SSN", "action": "redakt"}}), "fields.ssn.action", "unknown action 'redakt'"),
    (policy({"ssn": {"action": "redact"}}), "fields.ssn.entity", "is required"),
    (policy({"ssn": {"entity": "ssn", "action": "redact"}}), "fields.ssn.entity", "not an entity type"),
    (policy({"ssn": {"entity": "US_SSN"}}), "fields.ssn.action", "is required"),
    (policy({"ssn": {"entity": "US_SSN", "action": "partial", "keep_lft": 2}}), "fields.ssn.keep_lft",
     "unknown option for action 'partial'"),
    (policy({"ssn": {"entity": "US_SSN", "action": "partial", "keep_left": -1}}), "fields.ssn.keep_left",
     "non-negative integer"),
    (policy({"ssn": {"entity": "US_SSN", "action": "partial", "mask_char": "**"}}), "fields.ssn.mask_char",
     "exactly one character"),
    (policy({"ssn": {"entity": "US_SSN", "action": "redact", "replacement": "{value}"}}),
     "fields.ssn.replacement", "only {entity}"),
    (policy({"ssn": {"entity": "US_SSN", "action": "hash"}}), "fields.ssn.key", "needs a key"),
    (policy({"ssn": {"entity": "US_SSN", "action": "hash", "key": "nope"}}), "fields.ssn.key",
     "unknown key 'nope' (declared keys: fpe, hmac)"),
    (policy({"ssn": {"entity": "US_SSN", "action": "hash", "key": "hmac", "output": "b32"}}),
     "fields.ssn.output", "unknown value 'b32'"),
    (policy({"ssn": {"entity": "US_SSN", "action": "tokenize", "key": "fpe", "tweak": "abc"}}),
     "fields.ssn.tweak", "14 hex digits"),
    (policy({"notes": {"scan": True, "action": "redact"}}), "fields.notes.action", "actions section"),
    (policy({"notes": {"scan": {"entities": ["EMIAL"]}}}), "fields.notes.scan.entities[0]",
     "unknown entity type 'EMIAL'"),
    (policy({"notes": {"scan": {"min_confidence": 2}}}), "fields.notes.scan.min_confidence", "from 0 to 1"),
    (policy({"ssn": 42}), "fields.ssn", "must be 'keep', 'scan', or a mapping"),
    (policy({}), "fields", "at least one field"),
    (policy(mode="everything"), "mode", "unknown mode 'everything'"),
    (policy(version=2), "version", "unsupported policy version 2"),
    (policy(fieldz={}), "fieldz", "unknown key"),
    (policy(scan={"phone_regions": ["USA"]}), "scan.phone_regions", "two-letter"),
    (policy(scan={"entitiez": "all"}), "scan.entitiez", "unknown key"),
    (policy(classify={"sample": 0}), "classify.sample", "more than 0"),
    (policy(classify={"threshold": 1.5}), "classify.threshold", "from 0 to 1"),
    (policy(classify={"unlabelled": "drop"}), "classify.unlabelled", "unknown value 'drop'"),
    (policy(actions={"EMAIL": {"action": "shred"}}), "actions.EMAIL.action", "unknown action 'shred'"),
    ({"keys": {"k": "literal-key-material"}, "mode": "cells"}, "keys.k", "never goes in a policy"),
    ({"keys": {"k": {"env": "A", "file": "b"}}, "mode": "cells"}, "keys.k", "exactly one of env or file"),
    ({"keys": {"k": {"env": "A", "encoding": "raw"}}, "mode": "cells"}, "keys.k.encoding", "unknown encoding"),
    ({"keys": {"k": {"env": "A", "value": "x"}}, "mode": "cells"}, "keys.k.value", "unknown option"),
])
def test_validation_errors_name_the_key_path(spec, path, reason):
    with pytest.raises(PolicyError) as info:
        parse_policy(spec, environ=ENV)
    assert info.value.path == path
    assert reason in str(info.value)
    assert str(info.value).startswith(f"{path}: ")


def test_the_briefs_example_message():
    with pytest.raises(PolicyError, match=r"^fields\.ssn\.action: unknown action 'redakt' \(expected one of: "):
        parse_policy("fields:\n  ssn: {entity: US_SSN, action: redakt}\n", environ={})


def test_bad_yaml_names_the_line():
    with pytest.raises(PolicyError, match="not valid YAML or JSON at line 2"):
        parse_policy("fields:\n  ssn: {entity: US_SSN, action: [}\n", environ={})


@pytest.mark.parametrize("action", ["hash", "tokenize", "encrypt"])
def test_missing_env_key_fails_at_load_naming_variable_and_action(action):
    spec = policy({"ssn": {"entity": "US_SSN", "action": action, "key": "k"}})
    spec["keys"] = {"k": {"env": "SHARDLINE_TEST_KEY"}}
    with pytest.raises(MissingKeyError) as info:
        parse_policy(spec, environ={})
    message = str(info.value)
    assert info.value.path == "fields.ssn.key"
    assert "SHARDLINE_TEST_KEY" in message and f"the {action} action" in message


def test_missing_key_file_names_the_file(tmp_path):
    (tmp_path / "p.yaml").write_text("keys: {k: {file: secrets/k.hex}}\n"
                                     "fields: {email: {entity: EMAIL, action: hash, key: k}}\n")
    with pytest.raises(MissingKeyError, match=r"hash action needs key 'k', but file .*secrets/k\.hex does not exist"):
        load_policy(tmp_path / "p.yaml", environ={})


def test_key_file_is_found_beside_the_policy(tmp_path):
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "k.b64").write_text("QUJDREVGR0hJSktMTU5PUA==\n")  # 16 bytes
    (tmp_path / "p.yaml").write_text("keys: {k: {file: secrets/k.b64, encoding: base64}}\n"
                                     "fields: {ssn: {entity: US_SSN, action: tokenize, key: k}}\n")
    rule = load_policy(tmp_path / "p.yaml", environ={}).fields["ssn"]
    assert isinstance(rule.action, Tokenize)


@pytest.mark.parametrize(("env_value", "reason"), [
    ("not-hex", "does not hold valid hex"),
    ("ab" * 8, "at least 16 bytes"),  # 8 bytes: too short for HMAC
])
def test_bad_key_material_is_refused_without_echoing_it(env_value, reason):
    spec = policy({"email": {"entity": "EMAIL", "action": "hash", "key": "hmac"}})
    with pytest.raises(PolicyError) as info:
        parse_policy(spec, environ={**ENV, "HMAC_KEY": env_value})
    assert reason in str(info.value) and env_value not in str(info.value)


def test_aes_key_length_is_checked():
    spec = policy({"ssn": {"entity": "US_SSN", "action": "encrypt", "key": "hmac"}})
    with pytest.raises(PolicyError, match="encrypt action needs a 16, 24 or 32-byte AES key; key 'hmac' has 20 bytes"):
        parse_policy(spec, environ={**ENV, "HMAC_KEY": "ab" * 20})


def test_unused_keys_are_not_loaded():
    spec = policy({"ssn": {"entity": "US_SSN", "action": "redact"}})
    spec["keys"]["spare"] = {"env": "NOT_SET_ANYWHERE"}
    parse_policy(spec, environ=ENV)


def test_yaml_and_json_give_the_same_policy():
    spec = policy({"ssn": {"entity": "US_SSN", "action": "partial", "keep_right": 4}, "notes": "scan",
                   "country": "keep"}, mode="cells")
    from_json = parse_policy(json.dumps(spec), environ=ENV)
    from_mapping = parse_policy(spec, environ=ENV)
    assert from_json.mode == from_mapping.mode == "cells"
    assert set(from_json.fields) == {"ssn", "notes", "country"}
    assert [r.kind for r in from_json.fields.values()] == ["typed", "scan", "keep"]
    assert isinstance(from_json.fields["ssn"].action, Partial)


def test_builtin_policies_load():
    payments = builtin_policy("payments", environ={"SHARDLINE_PII_HMAC_KEY": "ab" * 32,
                                                   "SHARDLINE_PII_FPE_KEY": "cd" * 16})
    assert payments.mode == "fields" and payments.fields["notes"].kind == "scan"
    assert isinstance(payments.fields["email"].action, Hash)
    assert isinstance(payments.action_for("PHONE_NUMBER"), Redact)
    generic = builtin_policy("generic", environ={})  # needs no keys
    assert generic.mode == "cells" and not generic.fields
    with pytest.raises(MissingKeyError, match="environment variable SHARDLINE_PII_(FPE|HMAC)_KEY is not set"):
        builtin_policy("payments", environ={})
    with pytest.raises(PolicyError, match="no built-in policy"):
        builtin_policy("nope")
