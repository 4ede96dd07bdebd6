/** A span refused on its own (bad ids, times or values); the decoder catches it per span and counts it. */
export class SpanRejected extends Error {}
