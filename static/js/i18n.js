// UI strings come from Django's JavaScript catalog (/jsi18n/), loaded before the modules.
const catalog = globalThis.django || {};

export function gettext(text) {
  return catalog.gettext ? catalog.gettext(text) : text;
}

/** Fill `%(name)s` placeholders of an already translated string from `values`. */
export function interpolate(text, values) {
  return text.replace(/%\((\w+)\)s/g, (match, name) => (name in values ? String(values[name]) : match));
}

/** The singular or plural of a message for `count`, as the catalog's plural rule chooses. */
export function ngettext(singular, plural, count) {
  if (catalog.ngettext) return catalog.ngettext(singular, plural, count);
  return count === 1 ? singular : plural;
}
