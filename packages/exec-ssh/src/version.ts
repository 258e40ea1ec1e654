import { version } from '../package.json';

/** This package's version, read from its package.json when it is built (never typed by hand). */
export const VERSION: string = version;
