// Debian's libnifti2 (reads and writes NIfTI-1 and NIfTI-2, gzip through znzlib). Importers add
// -I/usr/include/nifti because nifti2_io.h includes <znzlib.h>.
#include <nifti/nifti2_io.h>
