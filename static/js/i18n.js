// UI strings come from Django's JavaScript catalog (/jsi18n/), loaded before the modules.
const catalog = globalThis.django || {};

export function gettext(text) {
  return catalog.gettext ? catalog.gettext(text) : text;
}

/** gettext, then fill `%(name)s` placeholders from `values`. */
export function format(text, values) {
  const translated = gettext(text);
  return translated.replace(/%\((\w+)\)s/g, (match, name) => (name in values ? String(values[name]) : match));
}
