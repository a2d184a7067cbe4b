import { describe, expect, it } from 'vitest';
import { parseBlobLocation } from './open-blobs.js';

describe('parseBlobLocation', () => {
  it('reads file:<absolute path> and file:// URLs', () => {
    expect(parseBlobLocation('file:/var/mobius/blobs')).toEqual({
      kind: 'file',
      root: '/var/mobius/blobs',
    });
    expect(parseBlobLocation('file:///var/mobius/blobs')).toEqual({
      kind: 'file',
      root: '/var/mobius/blobs',
    });
  });

  it('reads s3://bucket and s3://bucket/prefix', () => {
    expect(parseBlobLocation('s3://my-bucket')).toEqual({
      kind: 's3',
      bucket: 'my-bucket',
      prefix: '',
    });
    expect(parseBlobLocation('s3://my-bucket/team/blobs/')).toEqual({
      kind: 's3',
      bucket: 'my-bucket',
      prefix: 'team/blobs/',
    });
  });

  it('rejects relative file paths, bad bucket names, dot segments and unknown schemes', () => {
    for (const location of [
      'file:relative/blobs',
      's3://UPPER',
      's3://a',
      's3://bucket/../other',
      's3://bucket/a/./b',
      'gs://bucket',
      '/plain/path',
    ]) {
      expect(() => parseBlobLocation(location), location).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      );
    }
  });
});
