import { InvalidInputError } from '../core/index.js';

/** Why an order was refused; stable across releases so that clients can branch on it. */
export type OrderErrorCode =
  | 'ORDER_INVALID'
  | 'ORDER_EXPIRED'
  | 'ORDER_SIGNATURE_INVALID'
  | 'ORDER_REPLAYED'
  | 'ORDER_WRONG_ASSET';

/** An order was refused before it could touch the book: the message names the field or rule and what is expected. */
export class OrderError extends InvalidInputError {
  declare readonly code: OrderErrorCode;

  constructor(code: OrderErrorCode, message: string, details?: unknown) {
    super(code, message, details);
  }
}
