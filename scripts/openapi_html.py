"""openapi_html.py - an OpenAPI 3.1 document as one HTML reference page, without JavaScript (used by
docs_html.py). Generic over the document: local $ref (components), properties and required, items,
additionalProperties, oneOf/anyOf/allOf, enum/const, formats and bounds, parameters (path-level and
operation-level), request bodies and responses per media type, and response headers. Every operation
gets a section whose id is its operationId and whose data-op is "METHOD /path"; its auth line is the
mark "@@SCOPE METHOD /path@@", which the server fills with the scope its router registers."""

import html
import re

METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
MAX_DEPTH = 8


def esc(text):
    return html.escape(str(text), quote=True)


def inline(text):
    """Description text: escaped, with `code` spans and blank-line paragraphs kept."""
    if not text:
        return ""
    out = []
    for para in re.split(r"\n\s*\n", str(text).strip()):
        parts = re.split(r"(`[^`]+`)", para)
        out.append("".join(f"<code>{esc(p[1:-1])}</code>" if p.startswith("`") and p.endswith("`") and len(p) > 1
                           else esc(p) for p in parts))
    return "<br><br>".join(out)


def slug(text):
    return re.sub(r"[^a-zA-Z0-9_-]+", "-", text).strip("-").lower()


class Renderer:
    def __init__(self, spec):
        self.spec = spec

    # --- $ref -------------------------------------------------------------------------------------
    def resolve(self, node, seen=()):
        """(the node a $ref chain ends at, the last component name or None)."""
        name = None
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if ref in seen or not ref.startswith("#/"):
                return {"description": f"(reference {ref})"}, ref.rsplit("/", 1)[-1]
            seen = seen + (ref,)
            name = ref.rsplit("/", 1)[-1]
            target = self.spec
            for token in ref[2:].split("/"):
                target = target.get(token.replace("~1", "/").replace("~0", "~"), {}) if isinstance(target, dict) else {}
            # Sibling keywords of a $ref (3.1) add to what it points at.
            extra = {k: v for k, v in node.items() if k != "$ref"}
            node = {**target, **extra} if extra and isinstance(target, dict) else target
        return node, name

    # --- schemas ----------------------------------------------------------------------------------
    # A named schema (components/schemas) is a link to its own section at the end of the page; anonymous
    # ones are expanded where they are used.
    def type_of(self, schema, depth=0):
        """A short type, as HTML: string (date-time), array of <a>Address</a>, one of: string | integer, ..."""
        if isinstance(schema, dict) and set(schema) <= {"$ref", "description"} and "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if schema["$ref"].startswith("#/components/schemas/"):
                return f'<a href="#schema-{slug(name)}">{esc(name)}</a>'
        schema, name = self.resolve(schema)
        if not isinstance(schema, dict):
            return "any"
        if depth > MAX_DEPTH:
            return esc(name or "…")
        for key, word in (("oneOf", "one of"), ("anyOf", "any of")):
            if key in schema:
                return f"{word}: " + " | ".join(self.type_of(s, depth + 1) for s in schema[key])
        if "allOf" in schema:
            return " &amp; ".join(self.type_of(s, depth + 1) for s in schema["allOf"])
        if "const" in schema:
            return f"constant {self.literal(schema['const'])}"
        t = schema.get("type")
        if isinstance(t, list):
            t = " or ".join(t)
        if t == "array" or (t is None and "items" in schema):
            return "array of " + self.type_of(schema.get("items", {}), depth + 1)
        if t == "object" or (t is None and ("properties" in schema or "additionalProperties" in schema)):
            ap = schema.get("additionalProperties")
            if isinstance(ap, dict) and not schema.get("properties"):
                return "map of " + self.type_of(ap, depth + 1)
            return "object"
        text = esc(t or "any")
        if schema.get("format"):
            text += f" ({esc(schema['format'])})"
        return text

    @staticmethod
    def literal(value):
        return f"<code>{esc(value if isinstance(value, str) else repr(value))}</code>"

    def notes(self, schema):
        """Constraints and the description of one schema, as HTML."""
        schema, _ = self.resolve(schema)
        if not isinstance(schema, dict):
            return ""
        bits = []
        if schema.get("enum"):
            bits.append("one of " + ", ".join(self.literal(v) for v in schema["enum"]))
        items, _ = self.resolve(schema.get("items", {}))
        if isinstance(items, dict) and items.get("enum"):
            bits.append("each one of " + ", ".join(self.literal(v) for v in items["enum"]))
        for key, word in (("minimum", "≥"), ("maximum", "≤"), ("exclusiveMinimum", "&gt;"), ("exclusiveMaximum", "&lt;"),
                          ("minLength", "length ≥"), ("maxLength", "length ≤"), ("minItems", "items ≥"),
                          ("maxItems", "items ≤"), ("pattern", "pattern")):
            if key in schema:
                bits.append(f"{word} {self.literal(schema[key])}" if key == "pattern" else f"{word} {esc(schema[key])}")
        if "default" in schema:
            bits.append("default " + self.literal(schema["default"]))
        if schema.get("deprecated"):
            bits.append("deprecated")
        if schema.get("readOnly"):
            bits.append("read-only")
        desc = inline(schema.get("description", ""))
        if bits:
            desc = (desc + " " if desc else "") + f'<span class="muted">({"; ".join(bits)})</span>'
        return desc

    @staticmethod
    def named(schema):
        return isinstance(schema, dict) and str(schema.get("$ref", "")).startswith("#/components/schemas/")

    def rows(self, schema, prefix="", depth=0):
        """(field, type HTML, required, notes HTML) rows of an object schema's fields; anonymous nested
        objects (and arrays of them) expanded with dotted names, named ones linked."""
        schema, _ = self.resolve(schema)
        if not isinstance(schema, dict) or depth > MAX_DEPTH:
            return []
        out = []
        for key in ("oneOf", "anyOf"):
            for i, alt in enumerate(schema.get(key, [])):
                alt_rows = [] if self.named(alt) else self.rows(alt, prefix, depth + 1)
                if alt_rows:
                    out.append((prefix or "(value)", f"<em>{'one' if key == 'oneOf' else 'any'} of, form {i + 1}:</em>",
                                False, ""))
                    out += alt_rows
        for alt in schema.get("allOf", []):
            out += self.rows(alt, prefix, depth + 1)
        if schema.get("type") == "array" or "items" in schema:
            items = schema.get("items", {})
            return out + ([] if self.named(items) else self.rows(items, prefix + "[]", depth + 1))
        required = set(schema.get("required", []))
        for field, sub in schema.get("properties", {}).items():
            path = f"{prefix}.{field}" if prefix else field
            out.append((path, self.type_of(sub), field in required, self.notes(sub)))
            if not self.named(sub):
                out += self.rows(sub, path, depth + 1)
        ap = schema.get("additionalProperties")
        if isinstance(ap, dict) and schema.get("properties"):
            out.append((f"{prefix}.*" if prefix else "*", self.type_of(ap), False, self.notes(ap) or "other fields"))
        return out

    def schema_block(self, schema, expand_named=True):
        """A schema as its type line and the table of its fields (a named one's own fields expanded)."""
        head = f"<p>Type: {self.type_of(schema)}"
        desc = self.notes(schema)
        head += f" — {desc}</p>" if desc else "</p>"
        rows = self.rows(schema) if expand_named or not self.named(schema) else []
        if not rows:
            return head
        body = "".join(
            f"<tr><td><code>{esc(f)}</code></td><td>{t}</td><td>{'<span class=req>required</span>' if r else ''}</td>"
            f"<td>{n}</td></tr>" for f, t, r, n in rows)
        return head + f"<table><tr><th>field</th><th>type</th><th></th><th>notes</th></tr>{body}</table>"

    # --- operations -------------------------------------------------------------------------------
    def content(self, content):
        out = []
        for media, entry in (content or {}).items():
            out.append(f"<p class=muted><code>{esc(media)}</code></p>")
            if isinstance(entry, dict) and "schema" in entry:
                out.append(self.schema_block(entry["schema"]))
            for ex_name, ex in (entry.get("examples") or {}).items() if isinstance(entry, dict) else []:
                ex, _ = self.resolve(ex)
                if isinstance(ex, dict) and "value" in ex:
                    out.append(f"<p>Example {esc(ex_name)}:</p><pre><code>{esc(_json(ex['value']))}</code></pre>")
            if isinstance(entry, dict) and "example" in entry:
                out.append(f"<p>Example:</p><pre><code>{esc(_json(entry['example']))}</code></pre>")
        return "".join(out)

    def parameters(self, params):
        if not params:
            return ""
        rows = []
        for p in params:
            p, _ = self.resolve(p)
            schema = p.get("schema", {})
            rows.append(f"<tr><td><code>{esc(p.get('name', ''))}</code></td><td>{esc(p.get('in', ''))}</td>"
                        f"<td>{self.type_of(schema)}</td>"
                        f"<td>{'<span class=req>required</span>' if p.get('required') else ''}</td>"
                        f"<td>{' '.join(x for x in (inline(p.get('description', '')), self.notes(schema)) if x)}</td></tr>")
        return ("<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th><th></th><th>notes</th></tr>"
                + "".join(rows) + "</table>")

    def headers(self, headers):
        rows = []
        for name, h in (headers or {}).items():
            h, _ = self.resolve(h)
            schema = h.get("schema", {})
            rows.append(f"<tr><td><code>{esc(name)}</code></td><td>{self.type_of(schema)}</td>"
                        f"<td>{'<span class=req>required</span>' if h.get('required') else ''}</td>"
                        f"<td>{' '.join(x for x in (inline(h.get('description', '')), self.notes(schema)) if x)}</td></tr>")
        if not rows:
            return ""
        return ("<p>Headers:</p><table><tr><th>header</th><th>type</th><th></th><th>notes</th></tr>"
                + "".join(rows) + "</table>")

    def response(self, resp):
        resp, _ = self.resolve(resp)
        return (f"<p>{inline(resp.get('description', ''))}</p>" + self.headers(resp.get("headers"))
                + self.content(resp.get("content")))

    def responses(self, responses):
        out = ["<h4>Responses</h4>"]
        for status, resp in (responses or {}).items():
            ref = resp.get("$ref", "") if isinstance(resp, dict) else ""
            if ref.startswith("#/components/responses/") and set(resp) == {"$ref"}:
                name = ref.rsplit("/", 1)[-1]
                target, _ = self.resolve(resp)
                out.append(f"<h5><code>{esc(status)}</code></h5><p>{inline(target.get('description', ''))} "
                           f'(<a href="#response-{slug(name)}">{esc(name)}</a>)</p>')
            else:
                out.append(f"<h5><code>{esc(status)}</code></h5>{self.response(resp)}")
        return "".join(out)

    def operation(self, method, path, item, op):
        op_id = op.get("operationId") or slug(f"{method}-{path}")
        params = list(item.get("parameters", []))
        names = {(self.resolve(p)[0].get("name"), self.resolve(p)[0].get("in")) for p in op.get("parameters", [])}
        params = [p for p in params if (self.resolve(p)[0].get("name"), self.resolve(p)[0].get("in")) not in names]
        params += op.get("parameters", [])
        out = [f'<section class="op" id="{esc(op_id)}" data-op="{esc(method.upper())} {esc(path)}">',
               f'<h3><span class="method m-{method}">{method.upper()}</span> <code>{esc(path)}</code></h3>']
        if op.get("summary"):
            out.append(f"<p><strong>{inline(op['summary'])}</strong></p>")
        if op.get("deprecated"):
            out.append("<p><strong>Deprecated.</strong></p>")
        out.append(f"<p>Auth: @@SCOPE {method.upper()} {path}@@</p>")
        if op.get("description"):
            out.append(f"<p>{inline(op['description'])}</p>")
        out.append(self.parameters(params))
        body = op.get("requestBody")
        if body:
            body, _ = self.resolve(body)
            req = ' <span class="req">required</span>' if body.get("required") else ""
            out.append(f"<h4>Request body{req}</h4>")
            if body.get("description"):
                out.append(f"<p>{inline(body['description'])}</p>")
            out.append(self.content(body.get("content")))
        out.append(self.responses(op.get("responses")))
        out.append("</section>")
        return "".join(out)

    def operations(self):
        """(tag, method, path, path item, operation) in the document's tag order, then path order."""
        ops = []
        for path, item in self.spec.get("paths", {}).items():
            for method in METHODS:
                if method in item:
                    ops.append((method, path, item, item[method]))
        tags = [t.get("name") for t in self.spec.get("tags", [])]
        for _, _, _, op in ops:
            for t in op.get("tags", []) or ["other"]:
                if t not in tags:
                    tags.append(t)
        for tag in tags:
            for method, path, item, op in ops:
                if (op.get("tags") or ["other"])[0] == tag:
                    yield tag, method, path, item, op

    def render(self):
        info = self.spec.get("info", {})
        tag_desc = {t.get("name"): t.get("description", "") for t in self.spec.get("tags", [])}
        body = [f"<h1>{esc(info.get('title', 'API'))} <span class=muted>{esc(info.get('version', ''))}</span></h1>",
                f"<p>{inline(info.get('description', ''))}</p>"]
        schemes = self.spec.get("components", {}).get("securitySchemes", {})
        if schemes:
            body.append("<h2 id=\"authentication\">Authentication</h2><ul>")
            for name, s in schemes.items():
                s, _ = self.resolve(s)
                kind = " ".join(str(s.get(k)) for k in ("type", "scheme", "in", "name") if s.get(k))
                body.append(f"<li><code>{esc(name)}</code> ({esc(kind)}): {inline(s.get('description', ''))}</li>")
            body.append("</ul>")
        toc = ['<ul><li><a href="#authentication">Authentication</a></li>']
        current = None
        for tag, method, path, item, op in self.operations():
            if tag != current:
                if current is not None:
                    toc.append("</ul></li>")
                current = tag
                body.append(f'<h2 id="tag-{slug(tag)}">{esc(tag)}</h2><p>{inline(tag_desc.get(tag, ""))}</p>')
                toc.append(f'<li><a href="#tag-{slug(tag)}">{esc(tag)}</a><ul>')
            body.append(self.operation(method, path, item, op))
            op_id = op.get("operationId") or slug(f"{method}-{path}")
            toc.append(f'<li><a href="#{esc(op_id)}">{method.upper()} {esc(path)}</a></li>')
        if current is not None:
            toc.append("</ul></li>")
        shared = self.spec.get("components", {}).get("responses", {})
        if shared:
            body.append('<h2 id="shared-responses">Shared responses</h2>')
            toc.append('<li><a href="#shared-responses">Shared responses</a></li>')
            for name, resp in shared.items():
                body.append(f'<h3 id="response-{slug(name)}">{esc(name)}</h3>{self.response(resp)}')
        schemas = self.spec.get("components", {}).get("schemas", {})
        if schemas:
            body.append('<h2 id="schemas">Schemas</h2>')
            toc.append('<li><a href="#schemas">Schemas</a></li>')
            for name, schema in schemas.items():
                body.append(f'<h3 id="schema-{slug(name)}">{esc(name)}</h3>{self.schema_block(schema)}')
        toc.append("</ul>")
        return "".join(toc), "\n".join(body)


def _json(value):
    import json
    return json.dumps(value, indent=2, ensure_ascii=False)


def render(spec):
    """(table of contents HTML, body HTML) of the reference page for OpenAPI document `spec`."""
    return Renderer(spec).render()
