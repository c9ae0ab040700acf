export declare const outputs: Record<string, () => string>;
