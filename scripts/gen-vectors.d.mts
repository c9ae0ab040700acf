export declare const selftest_path: string;
export declare function build_vectors(): Promise<{ files: Record<string, string>; selftest: Buffer }>;
