// Response schemas shared by every route plugin: {"msg": "..."} for messages and errors.
// Their own module so that the plugins and app.ts do not import each other.
export const message_schema = {
  type: 'object',
  properties: { msg: { type: 'string' } },
  required: ['msg'],
} as const;

export const error_responses = {
  400: message_schema,
  401: message_schema,
  404: message_schema,
  413: message_schema,
  415: message_schema,
} as const;
